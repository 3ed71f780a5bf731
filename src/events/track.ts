import type { Box, Detection, FrameMeta } from '../types.js';

/** One detection of a track, with the frame it came from. */
export interface Sighting {
  box: Box;
  confidence: number;
  frame: { width: number; height: number; ts: number };
}

/** Weight of the newest velocity measurement; smooths out box jitter of the detector. */
const VELOCITY_GAIN = 0.5;

/**
 * The state of one physical defect across frames: its last box, a constant
 * velocity estimate (px per ms of the box centre, so frames dropped upstream
 * do not break the prediction), its hit/miss history over the confirmation
 * window and its best sighting.
 */
export class Track {
  readonly id: number;
  readonly classId: number;
  readonly className: string;
  box: Box;
  confidence: number;
  best: Sighting;
  /** Consecutive frames without a match. */
  missed = 0;
  /** Frames since the track was created, including the first. */
  age = 1;
  confirmed = false;
  private lastTs: number;
  private vx = 0;
  private vy = 0;
  private velocityKnown = false;
  /** Hit (true) or miss (false) for each of the last `window` frames, oldest first. */
  private readonly history: boolean[] = [true];

  constructor(id: number, detection: Detection, frame: FrameMeta, private readonly window: number) {
    this.id = id;
    this.classId = detection.classId;
    this.className = detection.className;
    this.box = { ...detection.box };
    this.confidence = detection.confidence;
    this.lastTs = frame.captureTs;
    this.best = sightingOf(detection, frame);
  }

  /** True once the track has been seen twice, so its prediction moves with it. */
  get hasVelocity(): boolean {
    return this.velocityKnown;
  }

  /** Sightings within the confirmation window. */
  get hits(): number {
    return this.history.filter(Boolean).length;
  }

  /** Where the box should be at capture time `ts`, assuming constant velocity. */
  predict(ts: number): Box {
    const dt = ts - this.lastTs;
    if (!this.velocityKnown || dt <= 0) return this.box;
    return { ...this.box, x: this.box.x + this.vx * dt, y: this.box.y + this.vy * dt };
  }

  hit(detection: Detection, frame: FrameMeta): void {
    const dt = frame.captureTs - this.lastTs;
    if (dt > 0) {
      const b = detection.box;
      const vx = (b.x + b.w / 2 - (this.box.x + this.box.w / 2)) / dt;
      const vy = (b.y + b.h / 2 - (this.box.y + this.box.h / 2)) / dt;
      const gain = this.velocityKnown ? VELOCITY_GAIN : 1;
      this.vx += gain * (vx - this.vx);
      this.vy += gain * (vy - this.vy);
      this.velocityKnown = true;
      this.lastTs = frame.captureTs;
    }
    this.box = { ...detection.box };
    this.confidence = detection.confidence;
    if (detection.confidence > this.best.confidence) this.best = sightingOf(detection, frame);
    this.missed = 0;
    this.step(true);
  }

  miss(): void {
    this.missed += 1;
    this.step(false);
  }

  private step(hit: boolean): void {
    this.age += 1;
    this.history.push(hit);
    if (this.history.length > this.window) this.history.shift();
  }
}

function sightingOf(detection: Detection, frame: FrameMeta): Sighting {
  return {
    box: { ...detection.box },
    confidence: detection.confidence,
    frame: { width: frame.width, height: frame.height, ts: frame.captureTs },
  };
}
