import type { Picture } from '../types.js';

/** Frames waiting for their picture, per camera, at most. */
const MAX_WAITING = 8;

interface Waiting {
  seq: number;
  take: (picture: Picture) => void;
  lost: () => void;
}

/**
 * The capture stage's own last few pictures of each camera (each held while
 * on the shelf), and the frames waiting for theirs: a frame's picture comes as
 * its own message, usually before the frame's detections, sometimes after.
 */
export class CaptureShelf {
  private readonly pictures = new Map<string, Picture[]>();
  private readonly waiting = new Map<string, Waiting[]>();

  constructor(private readonly perCamera: number) {}

  put(picture: Picture): void {
    const shelf = this.pictures.get(picture.camera) ?? [];
    shelf.push(picture.hold());
    while (shelf.length > this.perCamera) shelf.shift()!.release();
    this.pictures.set(picture.camera, shelf);
    const queue = this.waiting.get(picture.camera);
    if (!queue) return;
    // Pictures come in frame order: a frame still waiting behind this one never gets its own.
    for (const w of queue.filter((x) => x.seq <= picture.seq)) {
      if (w.seq === picture.seq) w.take(picture);
      else w.lost();
    }
    this.waiting.set(picture.camera, queue.filter((x) => x.seq > picture.seq));
  }

  /**
   * Calls `take` with the picture of frame `seq` (valid during the call: hold
   * it to keep it) now if it is on the shelf, else when it comes; `lost` when
   * it will not come (a later picture came, the camera left, too many wait).
   */
  whenPicture(camera: string, seq: number, take: (picture: Picture) => void, lost: () => void): void {
    const own = this.pictures.get(camera)?.find((p) => p.seq === seq);
    if (own) return take(own);
    const queue = this.waiting.get(camera) ?? [];
    if (queue.length >= MAX_WAITING) return lost();
    queue.push({ seq, take, lost });
    this.waiting.set(camera, queue);
  }

  /** The picture captured nearest to `ts` (valid during the call), if any. */
  near(camera: string, ts: number): Picture | undefined {
    let best: Picture | undefined;
    for (const p of this.pictures.get(camera) ?? []) {
      if (!best || Math.abs(p.captureTs - ts) < Math.abs(best.captureTs - ts)) best = p;
    }
    return best;
  }

  /** Gives back the camera's pictures; its waiting frames are lost. */
  clear(camera: string): void {
    for (const p of this.pictures.get(camera) ?? []) p.release();
    this.pictures.delete(camera);
    for (const w of this.waiting.get(camera) ?? []) w.lost();
    this.waiting.delete(camera);
  }
}
