import type { Box, Detection, FrameMeta } from '../types.js';

/** The clock of the motion model: media time when the frame has one, else capture time. */
export function motionTime(frame: FrameMeta): number {
  return frame.mediaTs ?? frame.captureTs;
}

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
  /** The class with the most confidence summed over the sightings (fixed once confirmed). */
  classId: number;
  className: string;
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
  /** Summed confidence per class id, with the name to report. */
  private readonly votes = new Map<number, { name: string; score: number }>();

  constructor(id: number, detection: Detection, frame: FrameMeta, private readonly window: number) {
    this.id = id;
    this.classId = detection.classId;
    this.className = detection.className;
    this.vote(detection);
    this.box = { ...detection.box };
    this.confidence = detection.confidence;
    this.lastTs = motionTime(frame);
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
    const t = motionTime(frame);
    const dt = t - this.lastTs;
    if (dt > 0) {
      const b = detection.box;
      const vx = (b.x + b.w / 2 - (this.box.x + this.box.w / 2)) / dt;
      const vy = (b.y + b.h / 2 - (this.box.y + this.box.h / 2)) / dt;
      const gain = this.velocityKnown ? VELOCITY_GAIN : 1;
      this.vx += gain * (vx - this.vx);
      this.vy += gain * (vy - this.vy);
      this.velocityKnown = true;
      this.lastTs = t;
    }
    this.box = { ...detection.box };
    this.confidence = detection.confidence;
    this.vote(detection);
    if (detection.confidence > this.best.confidence) this.best = sightingOf(detection, frame);
    this.missed = 0;
    this.step(true);
  }

  /**
   * A detector may call one defect a dent in one frame and a hole in the next;
   * it is still one defect. Until the track is confirmed its class follows the
   * votes; the event then carries the winner.
   */
  private vote(detection: Detection): void {
    const v = this.votes.get(detection.classId) ?? { name: detection.className, score: 0 };
    v.score += detection.confidence;
    this.votes.set(detection.classId, v);
    if (this.confirmed) return;
    let best = this.classId;
    for (const [id, { score }] of this.votes) if (score > (this.votes.get(best)?.score ?? 0)) best = id;
    this.classId = best;
    this.className = this.votes.get(best)!.name;
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
