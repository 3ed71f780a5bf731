import { v7 as uuidv7 } from 'uuid';
import { LinesightError, describeValue } from '../errors.js';
import type { Box, DefectEvent, Detection, InspectedFrame } from '../types.js';
import { areaRatio, centreDistance, iou } from './geometry.js';
import { regionFilter, type Polygon } from './roi.js';
import { motionTime, Track } from './track.js';

export interface TrackerOptions {
  /** A track is confirmed after this many sightings … */
  confirmHits: number;
  /** … within this many of its most recent frames. */
  confirmWindow: number;
  /** A track is forgotten once it has gone this many consecutive frames without a match. */
  maxMissed: number;
  /** Least IoU between a track's predicted box and a detection to match them. */
  matchIou: number;
  roi?: Polygon;
  exclude?: readonly Polygon[];
  /** Minimum confidence per class name, on top of the detector's global threshold. */
  classConfidence?: Record<string, number>;
  ignoreClasses?: readonly string[];
  /**
   * When IoU falls below matchIou, a detection still matches if its centre is
   * within this many box sizes of the prediction (default 1) and its area is
   * within a factor of 4.
   */
  maxCentreShift?: number;
  /**
   * The same gate for a track that has been seen only once, so has no velocity
   * estimate yet (default 2.5 box sizes). A part on a belt moves a box size or
   * more between two analysed frames (330 px/s at 5 fps is 66 px, a defect is
   * often 40 px); with the tight gate every sighting would start a new track and
   * no defect would ever be confirmed.
   */
  firstMatchShift?: number;
}

/** What the overlay draws for a live track. */
export interface TrackView {
  trackId: number;
  classId: number;
  className: string;
  /** Confidence of the last matched detection. */
  confidence: number;
  /** Last matched box, source-frame pixels. */
  box: Box;
  confirmed: boolean;
  /** Sightings within the confirmation window. */
  hits: number;
  /** Frames since the track appeared. */
  age: number;
  /** Consecutive frames without a match (0 when seen in this frame). */
  missed: number;
}

/** The part of the options that says which detections count; a recipe switch replaces it between frames (`setFilter`). */
export type TrackerFilter = Pick<TrackerOptions, 'roi' | 'exclude' | 'classConfidence' | 'ignoreClasses'>;

export interface TrackerUpdate {
  events: DefectEvent[];
  tracks: TrackView[];
}

const MAX_AREA_RATIO = 4;

/**
 * Turns the detections of one camera into one DefectEvent per physical defect.
 * Pure apart from the id factory and clock it is given; feed it every
 * inspected frame of its camera in capture order.
 *
 * @example
 * const tracker = new Tracker('cam1', { confirmHits: 3, confirmWindow: 5, maxMissed: 5, matchIou: 0.2 });
 * const { events } = tracker.update(inspected);
 */
export class Tracker {
  private tracks: Track[] = [];
  private nextTrackId = 1;
  private keep: (d: Detection) => boolean;
  private readonly maxShift: number;
  private readonly firstShift: number;

  constructor(
    readonly camera: string,
    private readonly opts: TrackerOptions,
    private readonly idFactory: () => string = uuidv7,
    private readonly clock: () => number = Date.now,
  ) {
    checkOptions(opts);
    this.maxShift = opts.maxCentreShift ?? 1;
    this.firstShift = Math.max(this.maxShift, opts.firstMatchShift ?? 2.5);
    this.keep = keepFilter(opts);
  }

  /** Replaces which detections count (a recipe switch): from the next `update` on; live tracks are kept. */
  setFilter(filter: TrackerFilter): void {
    this.keep = keepFilter(filter);
  }

  update(inspected: InspectedFrame): TrackerUpdate {
    const { frame } = inspected;
    if (frame.camera !== this.camera) {
      throw new LinesightError('E_ARGUMENT', `Expected a frame of camera "${this.camera}" but received one of "${frame.camera}"`);
    }
    const detections = inspected.detections.filter(this.keep);
    const matched = this.associate(detections, motionTime(frame));
    const unmatched = new Set(detections);
    for (const track of this.tracks) {
      const detection = matched.get(track);
      if (detection) {
        track.hit(detection, frame);
        unmatched.delete(detection);
      } else track.miss();
    }
    for (const detection of unmatched) {
      this.tracks.push(new Track(this.nextTrackId++, detection, frame, this.opts.confirmWindow));
    }
    const events = this.confirm(frame.captureTs);
    this.tracks = this.tracks.filter((t) => t.missed < this.opts.maxMissed);
    return { events, tracks: this.tracks.map(viewOf) };
  }

  /**
   * Greedy association, one detection per track: same-class IoU pairs first, then
   * same-class centre-distance pairs, then the same two tiers across classes (a
   * detector that changes its mind about a defect's class must not make it a
   * second defect; the track's class follows the votes).
   */
  private associate(detections: Detection[], ts: number): Map<Track, Detection> {
    const pairs: Array<{ track: Track; detection: Detection; tier: number; score: number }> = [];
    for (const track of this.tracks) {
      const predicted = track.predict(ts);
      const gate = track.hasVelocity ? this.maxShift : this.firstShift;
      for (const detection of detections) {
        const other = detection.classId === track.classId ? 0 : 2;
        const overlap = iou(predicted, detection.box);
        if (overlap > 0 && overlap >= this.opts.matchIou) {
          pairs.push({ track, detection, tier: other, score: overlap });
          continue;
        }
        const distance = centreDistance(predicted, detection.box);
        if (distance <= gate && areaRatio(predicted, detection.box) <= MAX_AREA_RATIO) {
          pairs.push({ track, detection, tier: other + 1, score: -distance });
        }
      }
    }
    pairs.sort((a, b) => a.tier - b.tier || b.score - a.score);
    const matched = new Map<Track, Detection>();
    const taken = new Set<Detection>();
    for (const { track, detection } of pairs) {
      if (matched.has(track) || taken.has(detection)) continue;
      matched.set(track, detection);
      taken.add(detection);
    }
    return matched;
  }

  private confirm(ts: number): DefectEvent[] {
    const events: DefectEvent[] = [];
    for (const track of this.tracks) {
      if (track.confirmed || track.hits < this.opts.confirmHits) continue;
      track.confirmed = true;
      const { best } = track;
      events.push({
        id: this.idFactory(),
        camera: this.camera,
        trackId: track.id,
        classId: track.classId,
        className: track.className,
        confidence: best.confidence,
        box: { ...best.box },
        frame: { ...best.frame },
        ts,
        confirmedAt: this.clock(),
      });
    }
    return events;
  }
}

function keepFilter(f: TrackerFilter): (d: Detection) => boolean {
  const inRegion = regionFilter({ roi: f.roi, exclude: f.exclude });
  const ignored = new Set(f.ignoreClasses ?? []);
  const minConfidence = f.classConfidence ?? {};
  return (d) => !ignored.has(d.className) && d.confidence >= (minConfidence[d.className] ?? 0) && inRegion(d.box);
}

function viewOf(track: Track): TrackView {
  return {
    trackId: track.id,
    classId: track.classId,
    className: track.className,
    confidence: track.confidence,
    box: { ...track.box },
    confirmed: track.confirmed,
    hits: track.hits,
    age: track.age,
    missed: track.missed,
  };
}

function checkOptions(opts: TrackerOptions): void {
  const int = (name: keyof TrackerOptions) => {
    const v = opts[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new LinesightError('E_ARGUMENT', `Expected positive integer for ${name} but received ${describeValue(v)}`);
    }
  };
  int('confirmHits');
  int('confirmWindow');
  int('maxMissed');
  if (opts.confirmHits > opts.confirmWindow) {
    throw new LinesightError('E_ARGUMENT', `Expected confirmHits (${opts.confirmHits}) at most confirmWindow (${opts.confirmWindow})`);
  }
  for (const name of ['maxCentreShift', 'firstMatchShift'] as const) {
    const v = opts[name];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
      throw new LinesightError('E_ARGUMENT', `Expected a positive number of box sizes for ${name} but received ${describeValue(v)}`);
    }
  }
  if (typeof opts.matchIou !== 'number' || !(opts.matchIou >= 0 && opts.matchIou <= 1)) {
    throw new LinesightError('E_ARGUMENT', `Expected a number between 0 and 1 for matchIou but received ${describeValue(opts.matchIou)}`);
  }
}
