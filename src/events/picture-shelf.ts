import type { Picture } from '../types.js';

/**
 * The last few full-size pictures of each camera, each held (a share of its
 * buffer) while on the shelf and given back when pushed off or cleared, so an
 * alert's thumbnail can show the frame its box comes from, or the nearest one
 * that has a picture (the box may then be off by what the part moved in
 * between: at most half the picture interval, which the thumbnail's margin
 * absorbs on slow belts).
 */
export class PictureShelf {
  private readonly shelves = new Map<string, Picture[]>();

  constructor(private readonly perCamera: number) {}

  put(picture: Picture): void {
    const shelf = this.shelves.get(picture.camera) ?? [];
    shelf.push(picture.hold());
    while (shelf.length > this.perCamera) shelf.shift()!.release();
    this.shelves.set(picture.camera, shelf);
  }

  has(camera: string, seq: number): boolean {
    return this.shelves.get(camera)?.some((p) => p.seq === seq) ?? false;
  }

  /** The picture captured at `ts`, else the one captured nearest to it. */
  near(camera: string, ts: number): Picture | undefined {
    let best: Picture | undefined;
    for (const p of this.shelves.get(camera) ?? []) {
      if (!best || Math.abs(p.captureTs - ts) < Math.abs(best.captureTs - ts)) best = p;
    }
    return best;
  }

  /** Gives back every picture of the camera. */
  clear(camera: string): void {
    for (const p of this.shelves.get(camera) ?? []) p.release();
    this.shelves.delete(camera);
  }
}
