import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Frame } from '../types.js';
import { BaselineLearner, type Baseline } from './baseline.js';
import type { ResolvedHealthConfig } from './config.js';
import { computeLetterbox } from '../preprocess/letterbox.js';
import { contentRegion, GREY_WIDTH, greyCopy, type GreyImage, type Region } from './grey.js';
import { conditions, ReasonHolds, showsNothing, type SampleMeasures } from './judge.js';
import { brightness, change, contrast, sharpness } from './measures.js';
import { matchReference } from './reference.js';
import type { HealthChange, HealthReason, HealthSnapshot, HealthStateName, HealthValues } from './types.js';

export interface HealthMonitorOptions {
  /** Sampling and hold times run on `monotonic()`, `since` on `now()`. Default: the system's. */
  clock?: Clock;
  log?: Logger;
}

/** A gap between samples longer than this many sample periods (and 5 s) is a break in the stream: stillness starts over. */
const GAP_PERIODS = 3;
const GAP_MIN_MS = 5000;

/** Where the picture lies in a model input of one geometry, and how many source pixels one grey pixel spans. */
interface Geometry {
  key: string;
  region: Region;
  srcWidth: number;
  srcPerGrey: number;
}

/**
 * Watches one camera's analysed frames and says whether the camera really
 * shows the line: `ok`, or `degraded` with the reasons (frozen, dark, bright,
 * covered, blurred, moved). Looks at `sample_fps` frames a second, each read
 * once into a small grey copy; learns the baseline for `blurred` and `moved`
 * during the first `learn_seconds` (again after `relearn()`).
 *
 * @example
 * const monitor = new CameraHealthMonitor(cam.id, healthConfigFor(cam, config), { log });
 * monitor.on('change', (c) => publishHealth(c));
 * camera.on('frame', (frame) => monitor.offer(frame)); // before the frame's input is released
 */
export class CameraHealthMonitor extends EventEmitter<{ change: [HealthChange] }> {
  private readonly clock: Clock;
  private readonly log?: Logger;
  private readonly periodMs: number;
  private nextDue = -Infinity;
  private lastSampleAt?: number;
  private previous?: GreyImage;
  private lastChangeAt = 0;
  private geometry?: Geometry;
  private learner: BaselineLearner;
  private baseline?: Baseline;
  private holds: ReasonHolds;
  private state: HealthStateName = 'ok';
  private reasons: HealthReason[] = [];
  private since: number;
  private values?: HealthValues;
  private closed = false;

  constructor(readonly cameraId: string, readonly cfg: ResolvedHealthConfig, options: HealthMonitorOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    this.log = options.log?.child({ camera: cameraId, stage: 'health' });
    this.periodMs = 1000 / cfg.sample_fps;
    this.learner = this.newLearner();
    this.holds = new ReasonHolds(cfg);
    this.since = this.clock.now();
  }

  /** Looks at `frame` when a sample is due: reads its model input now, keeps nothing of it. */
  offer(frame: Frame): void {
    if (this.closed || !this.cfg.enabled) return;
    const now = this.clock.monotonic();
    if (now < this.nextDue) return;
    // On the grid of sample times, so that 5 fps sampled at 2 fps gives 2 samples a second, not 1.67.
    this.nextDue = this.nextDue + this.periodMs > now ? this.nextDue + this.periodMs : now + this.periodMs;
    const geometry = this.geometryOf(frame);
    const img = greyCopy(frame.input, geometry.region);
    this.sample(img, geometry, now);
  }

  /** Starts learning the baseline again (the camera was re-aimed or refocused on purpose); `blurred` and `moved` are dropped at once. */
  relearn(): void {
    this.learner = this.newLearner();
    this.baseline = undefined;
    this.holds.drop(['blurred', 'moved']);
    this.log?.info({ code: 'HEALTH_RELEARN' }, `re-learning the picture for ${this.cfg.learn_seconds} s: blurred and moved are not judged meanwhile`);
    this.publish(this.holds.reported());
  }

  snapshot(): HealthSnapshot {
    const snap: HealthSnapshot = { state: this.state, reasons: [...this.reasons], since: this.since, learning: this.baseline === undefined };
    if (this.values) snap.values = { ...this.values };
    return snap;
  }

  close(): void {
    this.closed = true;
    this.removeAllListeners();
  }

  private newLearner(): BaselineLearner {
    return new BaselineLearner(this.cfg.learn_seconds * 1000, this.cfg.sample_fps);
  }

  private geometryOf(frame: Frame): Geometry {
    const { input } = frame;
    const key = `${frame.width}x${frame.height}>${input.width}x${input.height}`;
    if (this.geometry?.key !== key) {
      const region = contentRegion(input, frame.width, frame.height);
      const greyWidth = Math.min(region.width, GREY_WIDTH);
      const scaledWidth = computeLetterbox(frame.width, frame.height, input.width, input.height).scaledWidth;
      // One grey pixel spans region.width / greyWidth input pixels, each frame.width / scaledWidth source pixels.
      this.geometry = { key, region, srcWidth: frame.width, srcPerGrey: (region.width / greyWidth) * (frame.width / scaledWidth) };
    }
    return this.geometry;
  }

  private sample(img: GreyImage, geometry: Geometry, now: number): void {
    this.startOverAfterBreak(img, now);
    const b = brightness(img);
    const measures: SampleMeasures = { brightness: b, contrast: contrast(img, b), sharpness: sharpness(img), stillSeconds: 0 };
    // The first sample (or the first after a break) starts the still time.
    const diff = this.previous ? change(this.previous, img) : undefined;
    if (diff === undefined || diff >= this.cfg.still_below) this.lastChangeAt = now;
    measures.stillSeconds = (now - this.lastChangeAt) / 1000;
    this.previous = img;
    this.lastSampleAt = now;
    this.learn(img, measures, now);
    this.compare(img, geometry, measures);
    this.values = toValues(measures, diff ?? 0);
    this.publish(this.holds.update(conditions(measures, this.cfg), now));
  }

  /** After a break in the frames (a restart) or a change of size, the previous sample says nothing about this one. */
  private startOverAfterBreak(img: GreyImage, now: number): void {
    const gap = this.lastSampleAt !== undefined && now - this.lastSampleAt > Math.max(GAP_MIN_MS, GAP_PERIODS * this.periodMs);
    const resized = this.previous !== undefined && (this.previous.width !== img.width || this.previous.height !== img.height);
    if (gap || resized) this.previous = undefined;
    if (resized && this.baseline) {
      this.log?.info({ code: 'HEALTH_RELEARN' }, `the picture changed size to ${img.width}×${img.height} (grey copy): re-learning it`);
      this.learner = this.newLearner();
      this.baseline = undefined;
      this.holds.drop(['blurred', 'moved']);
    }
  }

  private learn(img: GreyImage, m: SampleMeasures, now: number): void {
    if (this.baseline) return;
    const learned = this.learner.add(img, m.sharpness, !showsNothing(m, this.cfg), now);
    if (!learned) return;
    this.baseline = learned;
    const ref = learned.reference;
    if (typeof ref === 'string') {
      this.log?.warn({ code: 'HEALTH_NO_REFERENCE', why: ref }, `learned the picture, but ${REFERENCE_PROBLEM[ref]}: moved is not judged for this camera until a re-learn`);
    } else {
      this.log?.info({ sharpness: learned.sharpness, staticShare: ref.stable.length / (ref.width * ref.height), axes: ref.axes }, 'learned the picture: judging blurred and moved');
    }
  }

  private compare(img: GreyImage, geometry: Geometry, m: SampleMeasures): void {
    if (!this.baseline) return;
    m.sharpnessBaseline = this.baseline.sharpness;
    const ref = this.baseline.reference;
    if (typeof ref === 'string') return;
    const match = matchReference(ref, img);
    const shiftPx = Math.hypot(match.dx, match.dy) * geometry.srcPerGrey;
    m.match = match.quality;
    m.shiftPx = shiftPx;
    m.shiftFraction = shiftPx / geometry.srcWidth;
  }

  private publish(reasons: HealthReason[]): void {
    const state: HealthStateName = reasons.length > 0 ? 'degraded' : 'ok';
    if (state === this.state && sameReasons(reasons, this.reasons)) return;
    this.state = state;
    this.reasons = reasons;
    this.since = this.clock.now();
    const values = this.values ?? toValues({ brightness: 0, contrast: 0, sharpness: 0, stillSeconds: 0 }, 0);
    if (state === 'degraded') this.log?.warn({ code: 'HEALTH_DEGRADED', reasons, values }, `camera degraded (${reasons.join(', ')}): its frames are not a real inspection`);
    else this.log?.info({ code: 'HEALTH_OK', values }, 'camera healthy again');
    this.emit('change', { camera: this.cameraId, state, reasons: [...reasons], since: this.since, values: { ...values } });
  }
}

const REFERENCE_PROBLEM = {
  no_samples: 'no sample showed the scene',
  no_static_part: 'almost nothing in the picture stayed still',
  no_texture: 'the still part of the picture is too plain to follow',
} as const;

function sameReasons(a: readonly HealthReason[], b: readonly HealthReason[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}

function toValues(m: SampleMeasures, diff: number): HealthValues {
  const v: HealthValues = { brightness: m.brightness, contrast: m.contrast, sharpness: m.sharpness, change: diff, stillSeconds: m.stillSeconds };
  if (m.sharpnessBaseline !== undefined) v.sharpnessBaseline = m.sharpnessBaseline;
  if (m.shiftPx !== undefined) v.shiftPx = m.shiftPx;
  if (m.shiftFraction !== undefined) v.shiftFraction = m.shiftFraction;
  if (m.match !== undefined) v.match = m.match;
  return v;
}
