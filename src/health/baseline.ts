import type { GreyImage } from './grey.js';
import { buildReference, MAX_LEARN_SAMPLES, type NoReference, type Reference } from './reference.js';

/** Fewest usable samples a baseline is learned from, however short learn_seconds is. */
export const MIN_LEARN_SAMPLES = 3;

/** What the checks judge `blurred` and `moved` against, learned from the first samples after a start or a re-learn. */
export interface Baseline {
  /** Median sharpness of the learning samples. */
  sharpness: number;
  /** The static part of the scene, or why there is none (then `moved` is not judged). */
  reference: Reference | NoReference;
}

/**
 * Collects learning samples for `learnMs` of monotonic time (pictures that
 * show nothing, dark, bright or covered, are left out) and then builds the
 * baseline. Keeps at most MAX_LEARN_SAMPLES pictures: when learning is long,
 * every k-th.
 */
export class BaselineLearner {
  private readonly pictures: GreyImage[] = [];
  private readonly sharpness: number[] = [];
  private readonly stride: number;
  private offered = 0;
  private startedAt?: number;

  constructor(private readonly learnMs: number, sampleFps: number) {
    this.stride = Math.max(1, Math.ceil(((learnMs / 1000) * sampleFps) / MAX_LEARN_SAMPLES));
  }

  /** Takes one sample; returns the baseline once learning is over, else undefined. */
  add(img: GreyImage, sharpness: number, usable: boolean, now: number): Baseline | undefined {
    this.startedAt ??= now;
    if (usable) {
      this.sharpness.push(sharpness);
      if (this.offered++ % this.stride === 0) this.pictures.push(img);
    }
    if (now - this.startedAt < this.learnMs || this.sharpness.length < MIN_LEARN_SAMPLES) return undefined;
    const sorted = [...this.sharpness].sort((a, b) => a - b);
    return { sharpness: sorted[Math.floor(sorted.length / 2)], reference: buildReference(this.pictures) };
  }
}
