import type { TrackView } from '../events/tracker.js';
import type { Detection } from '../types.js';

/*
 * The capture policies as pure functions: each says whether a frame is worth
 * keeping for training, and why. The capture stage (capture.ts) feeds them,
 * applies the rate limits and fetches the pictures.
 */

/**
 * Random 1-in-N: `u` is a uniform draw in [0, 1); true for the first 1/`every`
 * of the range, so each frame is kept with probability 1/`every`.
 *
 * @example
 * randomPick(Math.random(), 300) // true about once in 300 frames
 */
export function randomPick(u: number, every: number): boolean {
  return u * every < 1;
}

/**
 * The detections just under the alert threshold: `threshold(class)` − `band` ≤
 * confidence < `threshold(class)`. They are what the model almost reported,
 * the frames a person most needs to label.
 */
export function nearThreshold(detections: readonly Detection[], threshold: (className: string) => number, band: number): Detection[] {
  return detections.filter((d) => {
    const t = threshold(d.className);
    return d.confidence < t && d.confidence >= t - band;
  });
}

/** Tracks present before a frame and gone after it that were never confirmed: defects the tracker saw but never alerted. */
export function endedUnconfirmed(before: readonly TrackView[], after: readonly TrackView[]): TrackView[] {
  const alive = new Set(after.map((t) => t.trackId));
  return before.filter((t) => !t.confirmed && !alive.has(t.trackId));
}

/**
 * The classes of a camera's last `window` detections, counted: how common
 * each class is on this camera lately.
 */
export class ClassShares {
  private readonly ring: string[] = [];
  private readonly counts = new Map<string, number>();
  private next = 0;

  constructor(readonly window: number) {
    if (!Number.isInteger(window) || window < 1) throw new TypeError(`Expected a positive integer window but received ${String(window)}`);
  }

  /** Counts these detections' classes, pushing the oldest out once the window is full. */
  add(detections: readonly Pick<Detection, 'className'>[]): void {
    for (const d of detections) {
      if (this.ring.length < this.window) this.ring.push(d.className);
      else {
        const old = this.ring[this.next];
        const n = (this.counts.get(old) ?? 1) - 1;
        if (n === 0) this.counts.delete(old);
        else this.counts.set(old, n);
        this.ring[this.next] = d.className;
        this.next = (this.next + 1) % this.window;
      }
      this.counts.set(d.className, (this.counts.get(d.className) ?? 0) + 1);
    }
  }

  /** Detections counted so far, at most `window`. */
  get size(): number {
    return this.ring.length;
  }

  /** The class's share of the counted detections (0 for a class not among them). */
  share(className: string): number {
    return this.ring.length === 0 ? 0 : (this.counts.get(className) ?? 0) / this.ring.length;
  }
}

/**
 * The detections of a class rare on this camera: its share of the recent
 * detections (before this frame's) is below `belowShare`. Judged only once the
 * window is full, so the first detections of a fresh start are not all "rare".
 */
export function rareClasses(detections: readonly Detection[], shares: ClassShares, belowShare: number): Detection[] {
  if (shares.size < shares.window) return [];
  return detections.filter((d) => shares.share(d.className) < belowShare);
}
