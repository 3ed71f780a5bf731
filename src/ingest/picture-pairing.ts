/**
 * How far ffmpeg's two outputs of one graph may drift apart before they count
 * as out of step: it writes them within a frame or two of each other.
 */
const MAX_APART = 4;

/** Where paired pictures go. */
export interface PairingOutlet<F> {
  /** `frame` was delivered and `picture` is its full-size picture. */
  show(frame: F, picture: Buffer): void;
  /** `picture`'s frame will never be delivered (lost with its run, or dropped before it was sent): the buffer is not needed. */
  discard(picture: Buffer): void;
}

/**
 * Pairs the full-size pictures of one ffmpeg run (fd 3) with the frames they
 * belong to (the model inputs on fd 1), by index. The letterbox graph sends a
 * picture for every `pictureEvery`-th analysed frame (frame 0, k, 2k… of the
 * run), in order, but the two channels are read independently: a picture may
 * come before its frame or after it, and a frame may be sent on later than it
 * came (waiting for its time, or held by flow control) or never (superseded).
 *
 * The camera says when frame n came (`arrived`, which also says whether a
 * picture of it comes) and what became of it: sent on (`delivered`) or not
 * (`lost`). A picture is shown only once its frame was delivered, whichever
 * of the two came first; one whose frame was lost is discarded. `F` is what
 * the camera needs to show it (its frame).
 *
 * One instance per run: frame indices start at 0 with each ffmpeg start.
 */
export class PicturePairing<F> {
  /** Frames of the run that came so far. */
  private arrivedFrames = 0;
  /** Pictures of the run that came so far. */
  private pictureCount = 0;
  /** Pictures whose frame has not been delivered or lost yet, by frame index. */
  private readonly pictures = new Map<number, Buffer>();
  /** Frames delivered (or lost: null) whose picture has not come yet, by frame index. */
  private readonly fates = new Map<number, F | null>();
  private closed = false;

  constructor(readonly pictureEvery: number, private readonly outlet: PairingOutlet<F>) {
    if (!Number.isInteger(pictureEvery) || pictureEvery < 1) throw new TypeError(`Expected pictureEvery to be an integer ≥ 1 but received ${String(pictureEvery)}`);
  }

  /** Frame `n` of the run came (frames come in order); returns whether a picture of it comes too. */
  arrived(n: number): boolean {
    this.arrivedFrames = Math.max(this.arrivedFrames, n + 1);
    return this.pictured(n);
  }

  /** Frame `n` was sent on as `frame`: its picture is shown now if it is here, else when it comes. */
  delivered(n: number, frame: F): void {
    if (this.pictured(n)) this.settle(n, frame);
  }

  /** Frame `n` will never be sent on: its picture is discarded now if it is here, else when it comes. */
  lost(n: number): void {
    if (this.pictured(n)) this.settle(n, null);
  }

  /** The run's next picture: it belongs to frame (pictures so far) × `pictureEvery`. */
  picture(rgb: Buffer): void {
    const n = this.pictureCount++ * this.pictureEvery;
    if (this.closed) return this.outlet.discard(rgb);
    if (!this.fates.has(n)) {
      this.pictures.set(n, rgb);
      return;
    }
    const frame = this.fates.get(n) as F | null;
    this.fates.delete(n);
    if (frame === null) this.outlet.discard(rgb);
    else this.outlet.show(frame, rgb);
  }

  /** The run is over: pictures still waiting are discarded, and so is any that still comes. */
  close(): void {
    this.closed = true;
    for (const rgb of this.pictures.values()) this.outlet.discard(rgb);
    this.pictures.clear();
    this.fates.clear();
  }

  /** Why the two outputs no longer pair up (too many halves waiting), or undefined while they do. */
  get outOfStep(): string | undefined {
    const apart = Math.ceil(this.arrivedFrames / this.pictureEvery) - this.pictureCount;
    if (Math.abs(apart) <= MAX_APART) return undefined;
    return `ffmpeg's model inputs and full-size pictures no longer pair up (${Math.max(0, apart)} frames waiting for a picture, ${Math.max(0, -apart)} pictures waiting for a frame)`;
  }

  private pictured(n: number): boolean {
    return n % this.pictureEvery === 0;
  }

  private settle(n: number, frame: F | null): void {
    const rgb = this.pictures.get(n);
    if (rgb === undefined) {
      if (!this.closed) this.fates.set(n, frame);
      return;
    }
    this.pictures.delete(n);
    if (frame === null) this.outlet.discard(rgb);
    else this.outlet.show(frame, rgb);
  }
}
