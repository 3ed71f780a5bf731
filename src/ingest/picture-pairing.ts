import type { Frame } from '../types.js';

/**
 * How far ffmpeg's two outputs of one graph may drift apart before they count
 * as out of step: it writes them within a frame or two of each other.
 */
const MAX_APART = 4;

/** A frame and its full-size picture; `late` when the frame was handed on before its picture came. */
export type PairHandler = (frame: Frame, picture: Buffer, late: boolean) => void;

/**
 * Pairs the full-size pictures of one ffmpeg run (fd 3) with the frames they
 * belong to (the model inputs on fd 1). The letterbox graph sends a picture
 * for every `viewEvery`-th analysed frame (frame 0, k, 2k… of the run), in
 * order, but the two channels are read independently: a picture may come just
 * before its frame or just after it. A frame that comes first is marked
 * `pictureDue` and waits; a picture that comes first waits for its frame.
 * Each pair is handed to `pair` as soon as both halves are there.
 *
 * One instance per run: frame indices start at 0 with each ffmpeg start.
 */
export class PicturePairing {
  /** The run's frames so far. */
  private count = 0;
  /** Frames whose picture has not come yet, oldest first. */
  private readonly frames: Frame[] = [];
  /** Pictures whose frame has not come yet, oldest first. */
  private readonly pictures: Buffer[] = [];

  constructor(private readonly viewEvery: number, private readonly pair: PairHandler) {
    if (!Number.isInteger(viewEvery) || viewEvery < 1) throw new TypeError(`Expected viewEvery to be an integer ≥ 1 but received ${String(viewEvery)}`);
  }

  /** The run's next frame; paired at once when its picture is already here. */
  frame(frame: Frame): void {
    if (this.count++ % this.viewEvery !== 0) return;
    const picture = this.pictures.shift();
    if (picture) {
      this.pair(frame, picture, false);
      return;
    }
    frame.pictureDue = true;
    this.frames.push(frame);
  }

  /** The run's next picture: it belongs to the oldest frame still waiting for one, or to the next frame due one. */
  picture(rgb: Buffer): void {
    const frame = this.frames.shift();
    if (!frame) {
      this.pictures.push(rgb);
      return;
    }
    delete frame.pictureDue;
    this.pair(frame, rgb, true);
  }

  /** Why the two outputs no longer pair up (too many halves waiting), or undefined while they do. */
  get outOfStep(): string | undefined {
    if (this.frames.length <= MAX_APART && this.pictures.length <= MAX_APART) return undefined;
    return `ffmpeg's model inputs and full-size frames no longer pair up (${this.frames.length} frames waiting for a picture, ${this.pictures.length} pictures waiting for a frame)`;
  }
}
