/**
 * Cuts a byte stream of packed frames into whole frames of exactly `frameSize`
 * bytes, whatever chunk sizes the pipe delivers (64 KiB, 1 byte, or several
 * frames at once). Records the wall-clock time each frame's first byte arrived.
 */
export class FrameAssembler {
  readonly frameSize: number;
  private current: Buffer | null = null;
  private filled = 0;
  private firstByteAt = 0;

  constructor(frameSize: number, private readonly onFrame: (frame: Buffer, firstByteAt: number) => void, private readonly now: () => number = Date.now) {
    if (!Number.isInteger(frameSize) || frameSize <= 0) {
      throw new TypeError(`Expected a positive integer frame size but received ${String(frameSize)}`);
    }
    this.frameSize = frameSize;
  }

  push(chunk: Buffer): void {
    let offset = 0;
    const arrived = this.now();
    while (offset < chunk.length) {
      if (this.current === null) {
        // A fresh buffer per frame: frames travel on to other stages and must not be overwritten.
        this.current = Buffer.allocUnsafe(this.frameSize);
        this.filled = 0;
        this.firstByteAt = arrived;
      }
      const n = Math.min(this.frameSize - this.filled, chunk.length - offset);
      chunk.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameSize) {
        const frame = this.current;
        this.current = null;
        this.onFrame(frame, this.firstByteAt);
      }
    }
  }

  /** Bytes of an incomplete frame held back (a stream that ends mid-frame is corrupt). */
  get pendingBytes(): number {
    return this.current === null ? 0 : this.filled;
  }

  reset(): void {
    this.current = null;
    this.filled = 0;
  }
}
