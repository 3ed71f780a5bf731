import type { Frame } from '../types.js';

/**
 * A camera's model inputs (`Frame.input` when ffmpeg letterboxes), in buffers
 * over shared memory that come back when the scheduler is done with their
 * frame, instead of a fresh 0.3 MB buffer per frame that the session's worker
 * thread then received as a copy. Shared memory reaches the worker without
 * one: it reads the pixels where ffmpeg's bytes landed.
 *
 * Reuse is safe by construction, not by timing: a buffer comes back only
 * through `release(frame)`, which the scheduler calls once the frame's call
 * has settled or the frame was dropped, and which takes the input from the
 * frame (`input` is deleted), so nothing can read it through that frame
 * afterwards. Release is idempotent. A buffer that never comes back (a frame
 * dropped on a path that does not release) is simply collected: the pool
 * remembers what it lent only weakly.
 */
export class InputPool {
  private readonly free: Buffer[] = [];
  private readonly lent = new WeakSet<Buffer>();

  /** Keeps at most `keep` idle buffers of `size` bytes. */
  constructor(readonly size: number, private readonly keep: number) {}

  acquire(): Buffer {
    const buf = this.free.pop() ?? Buffer.from(new SharedArrayBuffer(this.size));
    this.lent.add(buf);
    return buf;
  }

  /** The frame's input (if it is one of this pool's) is no longer needed: the frame loses it and the buffer is reused. */
  release(frame: Frame): void {
    const buf = frame.input?.rgb;
    if (!buf || !this.lent.has(buf)) return;
    this.lent.delete(buf);
    delete frame.input;
    if (this.free.length < this.keep) this.free.push(buf);
  }

  /** Idle buffers ready for reuse (tests and diagnostics). */
  get idle(): number {
    return this.free.length;
  }
}
