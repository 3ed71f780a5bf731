import type { Frame } from '../types.js';

interface Slot {
  buf: Buffer;
  /** The frame whose picture this buffer is, until the buffer is reused. */
  owner: Frame | null;
}

/**
 * A camera's full-size pictures (`Frame.rgb` when ffmpeg letterboxes), in a
 * fixed ring of buffers reused in turn instead of a fresh 2.8 MB buffer per
 * picture. Allocating them was most of the box's garbage-collection work
 * (BENCHMARKS.md).
 *
 * Reuse is safe by construction, not by timing: when a buffer comes round
 * again, the frame that held it loses its picture (`rgb` is deleted), so a
 * stage that looks later sees a frame without a picture, which every stage
 * already handles (the thumbnail falls back to the newest picture, the video
 * skips it), never another frame's pixels. Stages that read a picture
 * asynchronously (sharp's encoders) copy what they need first.
 */
export class PicturePool {
  private readonly slots: Slot[] = [];
  private readonly byBuffer = new Map<Buffer, Slot>();
  private next = 0;

  /** `depth` buffers: the one being filled and the newest `depth − 1` pictures, which keep theirs. */
  constructor(readonly size: number, readonly depth: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new TypeError(`Expected a picture pool depth of at least 1 but received ${String(depth)}`);
  }

  /** The buffer for the next picture: a new one until the ring is full, then the oldest, taken from its frame. */
  acquire(): Buffer {
    if (this.slots.length < this.depth) {
      const slot: Slot = { buf: Buffer.allocUnsafe(this.size), owner: null };
      this.slots.push(slot);
      this.byBuffer.set(slot.buf, slot);
      return slot.buf;
    }
    const slot = this.slots[this.next] as Slot;
    this.next = (this.next + 1) % this.slots.length;
    if (slot.owner?.rgb === slot.buf) delete slot.owner.rgb;
    slot.owner = null;
    return slot.buf;
  }

  /** `frame` now shows `buf` (one of this pool's) as its picture. */
  attach(frame: Frame, buf: Buffer): void {
    frame.rgb = buf;
    const slot = this.byBuffer.get(buf);
    if (slot) slot.owner = frame;
  }
}
