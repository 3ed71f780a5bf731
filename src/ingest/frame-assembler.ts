import { performance } from 'node:perf_hooks';

/**
 * Cuts a byte stream of packed frames into whole frames of exactly `frameSize`
 * bytes, whatever chunk sizes the stream delivers (64 KiB, 1 byte, or several
 * frames at once). Records when each frame's first byte arrived (`now`: the
 * monotonic clock by default).
 *
 * Two ways in: `push` copies chunks someone else allocated (a pipe read as a
 * stream), while `readTarget` + `received` let a socket read straight into the
 * frame being assembled (`FrameChannel`), so a frame costs one buffer and no
 * copy. Frame buffers come from `allocate`: a fresh buffer each by default, or
 * a pool's (`PicturePool` for full-size pictures, `InputPool` for model inputs).
 */
export class FrameAssembler {
  readonly frameSize: number;
  private current: Buffer | null = null;
  private filled = 0;
  private firstByteAt = 0;
  /** The last buffer `readTarget` handed out (the unfilled tail of `current`). */
  private target: Buffer | null = null;

  constructor(
    frameSize: number,
    private readonly onFrame: (frame: Buffer, firstByteAt: number) => void,
    private readonly now: () => number = () => performance.now(),
    private readonly allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
  ) {
    if (!Number.isInteger(frameSize) || frameSize <= 0) {
      throw new TypeError(`Expected a positive integer frame size but received ${String(frameSize)}`);
    }
    this.frameSize = frameSize;
  }

  push(chunk: Buffer): void {
    this.target = null; // bytes came another way: a tail handed out earlier is stale
    let offset = 0;
    const arrived = this.now();
    while (offset < chunk.length) {
      const frame = this.current ?? this.begin();
      if (this.filled === 0) this.firstByteAt = arrived;
      const n = Math.min(this.frameSize - this.filled, chunk.length - offset);
      chunk.copy(frame, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameSize) this.complete();
    }
  }

  /** Where the next read should land: the unfilled rest of the frame being assembled. */
  readTarget(): Buffer {
    const frame = this.current ?? this.begin();
    this.target = frame.subarray(this.filled);
    return this.target;
  }

  /** `n` bytes were read into `buf`: in place when it is the last `readTarget()`, else copied. */
  received(n: number, buf: Uint8Array): void {
    if (buf !== this.target || this.current === null) {
      this.push(Buffer.from(buf.buffer, buf.byteOffset, n));
      return;
    }
    this.target = null;
    if (this.filled === 0) this.firstByteAt = this.now();
    this.filled += n;
    if (this.filled === this.frameSize) this.complete();
  }

  /** Bytes of an incomplete frame held back (a stream that ends mid-frame is corrupt). */
  get pendingBytes(): number {
    return this.current === null ? 0 : this.filled;
  }

  reset(): void {
    this.current = null;
    this.target = null;
    this.filled = 0;
  }

  private begin(): Buffer {
    // A buffer per frame (fresh, or the pool's next): frames travel on to other stages.
    this.current = this.allocate(this.frameSize);
    this.filled = 0;
    return this.current;
  }

  private complete(): void {
    const frame = this.current as Buffer;
    this.current = null;
    this.target = null;
    this.onFrame(frame, this.firstByteAt);
  }
}
