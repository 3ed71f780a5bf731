import { LinesightError } from '../errors.js';
import type { Picture } from '../types.js';

/** What a picture says about itself besides its pixels: the frame it shows. */
export interface PictureOf {
  camera: string;
  seq: number;
  captureTs: number;
  width: number;
  height: number;
}

/**
 * A camera's full-size pictures, in buffers reused instead of a fresh 2.8 MB
 * buffer per picture: allocating them was most of the box's
 * garbage-collection work (BENCHMARKS.md).
 *
 * A buffer is lent twice over: `acquire` gives it to be filled, `share` wraps
 * the filled buffer in a `Picture` with one share (its sender's). Whoever
 * keeps the picture past the call that handed it over takes a share of its
 * own (`hold()`) and gives it back with `release()`. The buffer returns to
 * the free list only when the last share is back, so a held picture never
 * shows another frame's pixels, however long it is held; a picture's buffer
 * is never taken back from its holders. The pool keeps at most `depth` idle
 * buffers and allocates when none is free: how many are out at once is
 * bounded by the consumers (the events stage keeps the recent frames' pictures
 * of a camera, the overlay its newest one or two).
 *
 * @example
 * const pool = new PicturePool(1280 * 720 * 3, 8);
 * const buf = pool.acquire();                         // filled by ffmpeg
 * const picture = pool.share(buf, { camera: 'cam1', seq: 7, captureTs, width: 1280, height: 720 });
 * emitter.emit('picture', picture);                   // a listener may `hold()` it
 * picture.release();                                  // the sender's share: the buffer is reused once the listeners' are back too
 */
export class PicturePool {
  private readonly free: Buffer[] = [];
  /** Buffers out of the free list (being filled, or in a picture): what may come back. */
  private readonly lent = new WeakSet<Buffer>();

  /** Buffers of `size` bytes; at most `depth` idle ones are kept. */
  constructor(readonly size: number, readonly depth: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new TypeError(`Expected a picture pool depth of at least 1 but received ${String(depth)}`);
  }

  /** A buffer to fill: an idle one, or a new one when every buffer is out. */
  acquire(): Buffer {
    const buf = this.free.pop() ?? Buffer.allocUnsafe(this.size);
    this.lent.add(buf);
    return buf;
  }

  /** The filled buffer `buf` (from `acquire`) as a picture of a frame, with one share: the caller's. */
  share(buf: Buffer, of: PictureOf): Picture {
    if (!this.lent.has(buf)) throw new LinesightError('E_ARGUMENT', `Expected a buffer this pool lent and not got back but received one it does not know (${buf.length} bytes)`);
    return new SharedPicture(of, buf, (b) => this.giveBack(b));
  }

  /** A buffer from `acquire` that will never be a picture (its frame was lost): back to the free list. */
  giveBack(buf: Buffer): void {
    if (!this.lent.delete(buf)) return; // not lent, or back already
    if (this.free.length < this.depth) this.free.push(buf);
  }

  /** Idle buffers ready for reuse (tests and diagnostics). */
  get idle(): number {
    return this.free.length;
  }
}

/** A picture whose buffer goes back when its last share does. Frozen: only the count of shares changes. */
class SharedPicture implements Picture {
  readonly camera: string;
  readonly seq: number;
  readonly captureTs: number;
  readonly width: number;
  readonly height: number;
  #shares = 1;
  #back: (buf: Buffer) => void;

  constructor(of: PictureOf, readonly rgb: Buffer, back: (buf: Buffer) => void) {
    this.camera = of.camera;
    this.seq = of.seq;
    this.captureTs = of.captureTs;
    this.width = of.width;
    this.height = of.height;
    this.#back = back;
    Object.freeze(this);
  }

  hold(): Picture {
    if (this.#shares === 0) {
      throw new LinesightError('E_ARGUMENT', `Expected a picture still held (a share taken before the last one was released) but picture ${this.seq} of camera ${this.camera} was released already; its buffer may show another frame by now`);
    }
    this.#shares++;
    return this;
  }

  release(): void {
    if (this.#shares === 0) return;
    if (--this.#shares === 0) this.#back(this.rgb);
  }
}
