import { EventEmitter } from 'node:events';
import type { CameraConfig, Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { hasPicture, type DefectEvent, type Frame, type InspectedFrame } from '../types.js';
import { Tracker, type TrackView } from './tracker.js';

/** A confirmed defect once stored: the event and its per-camera sequence number. */
export type StoredEvent = DefectEvent & { seq: number };

/** Where the events stage hands its results on (the store, the publisher, the statistics). */
export interface EventSinks {
  /** Writes the event to the outbox in one transaction with its `seq`; throws when the store refuses. */
  record(event: DefectEvent): { seq: number; outcome: string };
  /** Alerts are waiting in the outbox. */
  stored(): void;
  /** Every inspected frame with the events it confirmed, for the per-minute statistics. */
  counted(result: InspectedFrame, events: readonly DefectEvent[]): void;
}

export interface EventsStageEvents {
  /** Every inspected frame with the live tracks after it. */
  inspected: [InspectedFrame, TrackView[]];
  /** A stored alert, with the frame whose picture its thumbnail comes from when still at hand. */
  alert: [StoredEvent, Frame | undefined];
}

/**
 * The frame to cut a thumbnail from: the one captured at `ts` if it has its
 * full-size picture (or will), else the one with a picture captured nearest to
 * it. The box may then be off by what the part moved in between (at most half
 * the picture interval; the thumbnail's margin absorbs slow belts).
 */
export function pictureNear(frames: readonly Frame[], ts: number): Frame | undefined {
  const own = frames.find((f) => f.captureTs === ts);
  if (own && (hasPicture(own) || own.pictureDue)) return own; // its picture may still be on the pipe
  let best: Frame | undefined;
  for (const f of frames) {
    if (!hasPicture(f)) continue;
    if (!best || Math.abs(f.captureTs - ts) < Math.abs(best.captureTs - ts)) best = f;
  }
  return best;
}

function trackerFor(cam: CameraConfig, config: Config): Tracker {
  return new Tracker(cam.id, {
    confirmHits: config.events.confirm_hits,
    confirmWindow: config.events.confirm_window,
    maxMissed: config.events.max_missed,
    matchIou: config.events.match_iou,
    maxCentreShift: config.events.max_shift,
    firstMatchShift: config.events.first_shift,
    roi: cam.roi,
    exclude: cam.exclude,
    classConfidence: config.model.class_confidence,
    ignoreClasses: config.model.ignore_classes,
  });
}

/**
 * Inspected frames in, one stored alert per physical defect out. Per camera a
 * tracker confirms defects (k of n frames, ROI masks); each confirmed defect is
 * written to the outbox before anyone hears of it, so an alert the overlay
 * shows is an alert the MES will get.
 */
export class EventsStage extends EventEmitter<EventsStageEvents> {
  private readonly trackers = new Map<string, Tracker>();
  /** The last few inspected frames per camera (references): an alert's thumbnail comes from one of them. */
  private readonly recent = new Map<string, Frame[]>();
  private readonly keepFrames: number;
  private readonly log: Logger;

  constructor(private readonly config: Config, private readonly sinks: EventSinks, log: Logger) {
    super();
    this.keepFrames = Math.min(config.events.confirm_window + 1, 8);
    this.log = log.child({ stage: 'events' });
  }

  addCamera(cam: CameraConfig): void {
    this.trackers.set(cam.id, trackerFor(cam, this.config));
  }

  removeCamera(id: string): void {
    this.trackers.delete(id);
    this.recent.delete(id);
  }

  /** One inspected frame, in capture order per camera. */
  inspect(result: InspectedFrame, frame: Frame): void {
    const tracker = this.trackers.get(result.frame.camera);
    if (!tracker) return; // camera removed while its frame was in flight
    const ring = this.remember(frame);
    const { events, tracks } = tracker.update(result);
    for (const event of events) this.store(event, ring);
    if (events.length > 0) this.sinks.stored();
    this.sinks.counted(result, events);
    this.emit('inspected', result, tracks);
  }

  private remember(frame: Frame): Frame[] {
    const ring = this.recent.get(frame.camera) ?? [];
    ring.push(frame);
    if (ring.length > this.keepFrames) ring.shift();
    this.recent.set(frame.camera, ring);
    return ring;
  }

  private store(event: DefectEvent, ring: readonly Frame[]): void {
    let stored: { seq: number; outcome: string };
    try {
      stored = this.sinks.record(event);
    } catch (err) {
      // The store refusing a write is the one failure that can lose an alert: shout.
      this.log.error({ camera: event.camera, code: 'E_STORE', err: errorMessage(err), event }, 'could not store an alert');
      return;
    }
    this.log.info({
      camera: event.camera, seq: stored.seq, class: event.className, confidence: Number(event.confidence.toFixed(3)),
      box: event.box, track: event.trackId, id: event.id, outbox: stored.outcome,
    }, `defect ${event.className} on ${event.camera}`);
    this.emit('alert', { ...event, seq: stored.seq }, pictureNear(ring, event.frame.ts));
  }
}
