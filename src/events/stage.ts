import { EventEmitter } from 'node:events';
import type { CameraConfig, Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { DefectEvent, FrameMeta, InspectedFrame, ModelRef, Picture, ProductionContext } from '../types.js';
import { CameraTrackers } from './camera-trackers.js';
import { underRules, type DetectionRules } from './rules.js';
import { PictureShelf } from './picture-shelf.js';
import type { TrackView } from './tracker.js';
import { systemClock, type Clock, type Timer } from '../clock.js';

/**
 * A confirmed defect once stored: the event and its per-camera sequence
 * number. `stored: false` marks one whose commit failed (a full or failing
 * disk) and that went to the broker from memory.
 */
export type StoredEvent = DefectEvent & { seq: number; stored?: false };

/** Where the events stage hands its results on (the store, the publisher, the statistics). */
export interface EventSinks {
  /** Writes the event to the outbox in one transaction with its `seq`; throws when the store refuses. `model`: the one that inspected the confirming frame. */
  record(event: DefectEvent, model?: ModelRef): { seq: number; outcome: string };
  /**
   * `record` threw: hand the event to the broker without the store. Returns
   * its seq, or undefined when it cannot go out either. Without this sink such
   * an event is lost (and logged at error).
   */
  unstored?(event: DefectEvent, err: unknown, model?: ModelRef): { seq: number } | undefined;
  /** Alerts are waiting in the outbox. */
  stored(): void;
  /** A defect was confirmed on a frame captured at `captureMono` (monotonic ms), before it is recorded: its latencies start there. */
  captured?(id: string, captureMono: number): void;
  /** Every inspected frame with the events it confirmed, for the per-minute statistics. */
  counted(result: InspectedFrame, events: readonly DefectEvent[]): void;
  /** The production context in force at a frame's capture time (ms), stamped on the events it confirms. */
  context?(ts: number): ProductionContext | undefined;
}

export interface EventsStageEvents {
  /** Every inspected frame with the live tracks after it. */
  inspected: [InspectedFrame, TrackView[]];
  /**
   * A stored alert, with the picture its thumbnail comes from when one is at
   * hand (valid during the call: hold it to keep it). Alerts come in the order
   * they were stored; one whose own frame's picture is still on its way waits
   * for it (at most `PICTURE_WAIT_MS`), and the alerts after it wait too.
   */
  alert: [StoredEvent, Picture | undefined];
}

/** Longest an alert waits for its own frame's full-size picture before it goes out with the nearest one. */
export const PICTURE_WAIT_MS = 1000;

interface Outgoing {
  alert: StoredEvent;
  /** The frame the box comes from, when it is to have a picture that has not come yet. */
  awaiting?: FrameMeta;
  deadline: number;
}

/**
 * Inspected frames in, one stored alert per physical defect out. Per camera a
 * tracker confirms defects (k of n frames, ROI masks); each confirmed defect is
 * written to the outbox before anyone hears of it, so an alert the overlay
 * shows is an alert the MES will get. The stage also keeps the last pictures
 * of each camera (`PictureShelf`) so an alert's thumbnail shows the frame its
 * box comes from.
 */
export class EventsStage extends EventEmitter<EventsStageEvents> {
  private readonly trackers: CameraTrackers;
  /** The last few inspected frames per camera: which of them are to have a picture. */
  private readonly recent = new Map<string, FrameMeta[]>();
  private readonly shelf: PictureShelf;
  private readonly keepFrames: number;
  private readonly log: Logger;
  private readonly outgoing: Outgoing[] = [];
  private timer: Timer | null = null;
  /** The active recipe's rules; none: the configuration's thresholds and regions, applied by the detector and the trackers. */
  private rules: DetectionRules | undefined;
  /**
   * The configuration's own thresholds, cut here while no recipe is active: a
   * line with recipes opens its detector at the lowest threshold any recipe
   * needs, so the detector no longer cuts at the configuration's.
   */
  private base: DetectionRules | undefined;

  constructor(config: Config, private readonly sinks: EventSinks, log: Logger, private readonly clock: Clock = systemClock) {
    super();
    this.trackers = new CameraTrackers(config);
    this.keepFrames = Math.min(config.events.confirm_window + 1, 8);
    this.shelf = new PictureShelf(this.keepFrames);
    this.log = log.child({ stage: 'events' });
  }

  addCamera(cam: CameraConfig): void {
    this.trackers.add(cam);
  }

  /** The rules frames are cut at now: the active recipe's, else the configuration's on a line with recipes; undefined: the detector's cut is final. */
  currentRules(): DetectionRules | undefined {
    return this.rules ?? this.base;
  }

  /** Cuts frames at these rules' thresholds while no recipe is active (a line whose detector decodes below the configuration's thresholds). */
  setBaseRules(rules: DetectionRules): void {
    this.base = rules;
  }

  /** A recipe switch: its thresholds and regions apply from the next inspected frame of every camera; live tracks are kept. */
  applyRules(rules: DetectionRules): void {
    this.rules = rules;
    this.trackers.apply(rules);
  }

  /** Forgets a camera: its tracks, its pictures; its alerts waiting for a picture go out without waiting. */
  removeCamera(id: string): void {
    this.trackers.remove(id);
    this.recent.delete(id);
    this.shelf.clear(id);
    this.flush(Number.POSITIVE_INFINITY, id);
  }

  /** A full-size picture from a camera: kept for thumbnails, and it may be what an alert waits for. */
  picture(picture: Picture): void {
    if (!this.trackers.has(picture.camera)) return;
    this.shelf.put(picture);
    this.flush(this.clock.monotonic());
  }

  /** One inspected frame, in capture order per camera. */
  inspect(inspected: InspectedFrame): void {
    const tracker = this.trackers.get(inspected.frame.camera);
    if (!tracker) return; // camera removed while its frame was in flight
    const rules = this.currentRules();
    const result = rules ? underRules(inspected, rules) : inspected;
    this.remember(result.frame);
    const update = tracker.update(result);
    const tracks = update.tracks;
    const events = update.events.map((e) => this.stamp(e));
    for (const event of events) {
      this.sinks.captured?.(event.id, result.frame.captureMono);
      this.store(event, result.model);
    }
    if (events.length > 0) this.sinks.stored();
    this.sinks.counted(result, events);
    this.emit('inspected', result, tracks);
    if (events.length > 0) this.flush(this.clock.monotonic());
  }

  /** The context in force at the confirming frame's capture time, and the recipe that inspected it. */
  private stamp(event: DefectEvent): DefectEvent {
    const context = this.sinks.context?.(event.ts);
    const recipe = this.rules?.name;
    return { ...event, ...(context ? { context } : {}), ...(recipe === undefined ? {} : { recipe }) };
  }

  /** Sends every alert still waiting, without its picture (the line is stopping). */
  close(): void {
    this.flush(Number.POSITIVE_INFINITY);
    for (const id of this.trackers.ids()) this.shelf.clear(id);
  }

  private remember(frame: FrameMeta): void {
    const ring = this.recent.get(frame.camera) ?? [];
    ring.push(frame);
    if (ring.length > this.keepFrames) ring.shift();
    this.recent.set(frame.camera, ring);
  }

  private store(event: DefectEvent, model: ModelRef | undefined): void {
    let stored: { seq: number; outcome: string };
    let unstored = false;
    try {
      stored = this.sinks.record(event, model);
    } catch (err) {
      const fallback = this.sendUnstored(event, err, model);
      if (!fallback) return;
      stored = { seq: fallback.seq, outcome: 'unstored' };
      unstored = true;
    }
    this.log.info({
      camera: event.camera, seq: stored.seq, class: event.className, confidence: Number(event.confidence.toFixed(3)),
      box: event.box, track: event.trackId, id: event.id, outbox: stored.outcome,
    }, `defect ${event.className} on ${event.camera}`);
    const own = this.recent.get(event.camera)?.find((f) => f.captureTs === event.frame.ts);
    const awaiting = own?.pictured && !this.shelf.has(own.camera, own.seq) ? own : undefined;
    const alert: StoredEvent = unstored ? { ...event, seq: stored.seq, stored: false } : { ...event, seq: stored.seq };
    this.outgoing.push({ alert, awaiting, deadline: this.clock.monotonic() + PICTURE_WAIT_MS });
  }

  /**
   * The store refused the alert. The store reports its own state once (full,
   * failing); this only decides the alert's fate, and logs at error only when
   * it is lost.
   */
  private sendUnstored(event: DefectEvent, err: unknown, model: ModelRef | undefined): { seq: number } | undefined {
    let fallback: { seq: number } | undefined;
    let why = errorMessage(err);
    try {
      fallback = this.sinks.unstored?.(event, err, model);
    } catch (fallbackErr) {
      why = `${why}; and publishing it unstored failed: ${errorMessage(fallbackErr)}`;
    }
    if (fallback) {
      this.log.debug({ camera: event.camera, code: 'E_STORE', err: errorMessage(err), id: event.id }, 'alert not stored; published from memory');
      return fallback;
    }
    // The one path that loses an alert: shout.
    this.log.error({ camera: event.camera, code: 'E_STORE', err: why, event }, 'could not store an alert; it is lost');
    return undefined;
  }

  /** Emits the alerts at the head of the line whose picture is there, or whose wait is over (`now`), or of `camera`. */
  private flush(now: number, camera?: string): void {
    while (this.outgoing.length > 0) {
      const head = this.outgoing[0];
      const waiting = head.awaiting && !this.shelf.has(head.awaiting.camera, head.awaiting.seq);
      if (waiting && head.deadline > now && head.alert.camera !== camera) break;
      this.outgoing.shift();
      this.emit('alert', head.alert, this.shelf.near(head.alert.camera, head.alert.frame.ts));
    }
    this.armTimer();
  }

  private armTimer(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const head = this.outgoing[0];
    if (!head) return;
    this.timer = this.clock.setTimeout(() => this.flush(this.clock.monotonic()), Math.max(0, head.deadline - this.clock.monotonic()));
  }
}
