import type { ModelInput } from '../types.js';

/**
 * A camera's model inputs (`Frame.input`), in buffers over shared memory that
 * come back to be filled again, instead of a fresh 0.3 MB buffer per frame
 * that the session's worker thread then received as a copy. Shared memory
 * reaches the worker without one: it reads the pixels where ffmpeg's bytes
 * landed.
 *
 * Each `acquire` lends a buffer as a lease of its own (`ModelInput`). Reuse
 * is safe by construction, not by timing: the buffer comes back only through
 * that lease's `release()`, which the consumer calls once the frame's call has
 * settled or the frame was dropped; a second release of the same lease does
 * nothing, so a stale lease can never give back a buffer lent again since. A
 * lease never released is simply collected with its buffer.
 *
 * @example
 * const pool = new InputPool(640, 640, 4);
 * const input = pool.acquire(); // input.rgb: 640 × 640 × 3 bytes of shared memory
 * input.release();              // back for the next frame
 */
export class InputPool {
  /** Bytes of one input: packed RGB24. */
  readonly size: number;
  private readonly free: Buffer[] = [];

  /** Inputs of `width` × `height` pixels; keeps at most `keep` idle buffers. */
  constructor(readonly width: number, readonly height: number, private readonly keep: number) {
    this.size = width * height * 3;
  }

  /** A buffer to fill, lent until its lease is released. */
  acquire(): ModelInput {
    const rgb = this.free.pop() ?? Buffer.from(new SharedArrayBuffer(this.size));
    return new InputLease(rgb, this.width, this.height, (buf) => this.giveBack(buf));
  }

  /** Idle buffers ready for reuse (tests and diagnostics). */
  get idle(): number {
    return this.free.length;
  }

  private giveBack(buf: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buf);
  }
}

/** One lending of an input buffer; frozen, so the only thing that changes is whether it was given back. */
class InputLease implements ModelInput {
  #back: ((buf: Buffer) => void) | null;

  constructor(readonly rgb: Buffer, readonly width: number, readonly height: number, back: (buf: Buffer) => void) {
    this.#back = back;
    Object.freeze(this);
  }

  release(): void {
    const back = this.#back;
    this.#back = null;
    back?.(this.rgb);
  }
}
