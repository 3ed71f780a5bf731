import { v7 as uuidv7 } from 'uuid';
import type { Clock } from '../clock.js';
import type { CameraConfig, Config } from '../config/schema.js';
import type { StoredEvent } from '../events/stage.js';
import type { TrackView } from '../events/tracker.js';
import type { Logger } from '../log.js';
import type { PictureDetection, PictureReason } from '../store/pictures.js';
import type { Detection, InspectedFrame, Picture } from '../types.js';
import type { VerdictBody } from '../verdicts/body.js';
import { capturePoliciesFor, POLICY_NAMES, type CapturePolicies, type PolicyName } from './config.js';
import { ClassShares, endedUnconfirmed, nearThreshold, randomPick, rareClasses } from './policies.js';
import { RateLimit } from './rate-limit.js';
import { RecallRing } from './recall.js';
import { CaptureShelf } from './shelf.js';
import type { PictureJob, PictureWriter } from './writer.js';

/** Pictures the capture stage keeps per camera: enough for a frame whose detections come a little after its picture. */
const SHELF_DEPTH = 4;
/** Inspected frames remembered per camera, for the pre-labels of an alert's picture. */
const RECENT_FRAMES = 8;
/** Tracks per camera whose last picture is held in case they end unconfirmed. */
const MAX_CANDIDATES = 4;
/** A missed defect's picture must be this close in time to the frame the operator drew on, else it would show another part. */
export const MISSED_MAX_GAP_MS = 1000;
/** Capture times the page and the server give for one frame differ by rounding at most (the page has them as ms). */
const SAME_FRAME_MS = 1;

/** Why a picture the capture stage wanted was not queued. */
export type SkipReason = 'no_picture' | 'unstored_alert' | 'missed_frame_gone';

export interface CaptureDeps {
  config: Config;
  writer: PictureWriter;
  clock: Clock;
  log: Logger;
  /** The model running now, for pictures whose frame does not say which model inspected it. */
  model?: () => { name: string; version: string };
  /** A uniform draw in [0, 1) for the random policy (tests pass their own). */
  random?: () => number;
}

interface Candidate {
  picture: Picture;
  detections: PictureDetection[];
  ts: number;
  model?: { name: string; version: string };
  peakHits: number;
}

interface CameraCapture {
  policies: CapturePolicies;
  limits: Record<PolicyName, RateLimit>;
  recent: InspectedFrame[];
  tracks: TrackView[];
  candidates: Map<number, Candidate>;
  shares: ClassShares;
}

/**
 * Chooses the full-size frames worth labelling and hands them to the writer:
 * the frame of each stored alert, the frame an operator marked a missed defect
 * on, and the frames the capture policies pick (random 1-in-N, a detection
 * just under the threshold, a track that ended unconfirmed, a rare class),
 * each policy rate-limited per camera. Every picture goes with the model's
 * detections on its frame (its pre-labels). Everything here is synchronous
 * and cheap: the encode and the write are the writer's, off the inference path.
 */
export class CaptureStage {
  private readonly cameras = new Map<string, CameraCapture>();
  private readonly shelf = new CaptureShelf(SHELF_DEPTH);
  private readonly random: () => number;
  /** Recent frames as JPEG, for missed defects drawn on a frame frozen a while ago. */
  readonly recall: RecallRing;
  readonly skipped = new Map<SkipReason, number>();
  /** Pictures each policy chose (before the writer's queue), by policy. */
  readonly chosen = new Map<PictureReason, number>();
  /** A class's alert threshold now (the active recipe's, once attached to the events stage); default: the configuration's. */
  threshold: (className: string) => number;

  constructor(private readonly deps: CaptureDeps) {
    this.random = deps.random ?? Math.random;
    const m = deps.config.model;
    this.threshold = (className) => m.class_confidence[className] ?? m.confidence;
    const c = deps.config.capture;
    this.recall = new RecallRing({ seconds: c.missed ? c.recall_s : 0, fps: c.recall_fps, quality: c.quality, clock: deps.clock, log: deps.log });
  }

  addCamera(cam: CameraConfig): void {
    this.removeCamera(cam.id);
    const policies = capturePoliciesFor(cam, this.deps.config);
    const limits = Object.fromEntries(POLICY_NAMES.map((n) => [n, new RateLimit(policies[n].per_minute, policies[n].per_hour)])) as Record<PolicyName, RateLimit>;
    this.cameras.set(cam.id, { policies, limits, recent: [], tracks: [], candidates: new Map(), shares: new ClassShares(policies.rare_class.window) });
  }

  removeCamera(id: string): void {
    const cam = this.cameras.get(id);
    if (!cam) return;
    for (const c of cam.candidates.values()) c.picture.release();
    this.cameras.delete(id);
    this.shelf.clear(id);
    this.recall.clear(id);
  }

  /** A full-size picture of a camera (valid during the call). */
  picture(picture: Picture): void {
    if (this.off || !this.cameras.has(picture.camera)) return;
    this.shelf.put(picture);
    this.recall.offer(picture);
  }

  /** An inspected frame and the camera's live tracks after it: the capture policies look at it. */
  inspected(result: InspectedFrame, tracks: readonly TrackView[]): void {
    const cam = this.cameras.get(result.frame.camera);
    if (!cam || this.off) return;
    cam.recent.push(result);
    if (cam.recent.length > RECENT_FRAMES) cam.recent.shift();
    if (result.frame.pictured) this.recall.label(result.frame.camera, result.frame.seq, preLabels(result), result.model);
    const now = this.deps.clock.monotonic();
    if (result.frame.pictured) {
      const reason = this.policyFor(cam, result, now);
      if (reason) this.captureFrame(result, reason);
    }
    if (cam.policies.rare_class.enabled) cam.shares.add(result.detections);
    const before = cam.tracks;
    cam.tracks = [...tracks];
    if (cam.policies.unconfirmed_track.enabled) this.watchTracks(cam, result, before, now);
  }

  /** A stored alert and the picture its thumbnail comes from: the picture is kept with the detections of its frame. */
  alert(alert: StoredEvent, picture: Picture | undefined): void {
    if (this.off || !this.deps.config.capture.alerts || !this.cameras.has(alert.camera)) return;
    if (alert.stored === false) return this.skip('unstored_alert'); // no alert row for its picture to belong to
    if (!picture) return this.skip('no_picture');
    const own = this.cameras.get(alert.camera)!.recent.find((r) => r.frame.seq === picture.seq);
    const detections = own ? preLabels(own) : [toStored(alert)];
    const model = own?.model ?? this.deps.model?.();
    this.queue({ picture: picture.hold(), row: { id: uuidv7(), camera: alert.camera, ts: picture.captureTs, kind: 'alert', reason: 'alert', alertId: alert.id, detections, model } });
  }

  /**
   * A stored verdict: a missed defect keeps the picture nearest to the frame
   * the operator drew on (a raw picture still on the shelf, else a recent
   * frame kept as JPEG), when one within `MISSED_MAX_GAP_MS` is in memory.
   * A withdrawal keeps none.
   */
  verdict(verdict: VerdictBody): void {
    if (this.off || verdict.verdict !== 'missed' || verdict.withdrawn || !this.deps.config.capture.missed) return;
    const ts = Date.parse(verdict.frame.ts);
    const raw = this.shelf.near(verdict.camera, ts);
    const recalled = this.recall.near(verdict.camera, ts);
    const gap = (t: number | undefined) => (t === undefined ? Infinity : Math.abs(t - ts));
    const row = { id: uuidv7(), camera: verdict.camera, kind: 'missed', reason: 'missed', verdictId: verdict.id } as const;
    if (raw && gap(raw.captureTs) <= gap(recalled?.captureTs)) {
      if (gap(raw.captureTs) > MISSED_MAX_GAP_MS) return this.skip('missed_frame_gone');
      const own = this.cameras.get(verdict.camera)?.recent.find((r) => r.frame.seq === raw.seq);
      this.queue({ picture: raw.hold(), row: { ...row, ts: raw.captureTs, detections: own ? preLabels(own) : [], model: own?.model ?? this.deps.model?.() } });
      return;
    }
    if (!recalled) return this.skip('no_picture');
    if (gap(recalled.captureTs) > MISSED_MAX_GAP_MS) return this.skip('missed_frame_gone');
    this.queue({ picture: recalled, row: { ...row, ts: recalled.captureTs, detections: recalled.detections ?? [], model: recalled.model ?? this.deps.model?.() } });
  }

  /**
   * The operator froze frame `ts` of `camera` to draw on it: while its raw
   * picture is still on the shelf, keep that exact frame (with the model's
   * detections on it) for the missed defects drawn on it, whatever the recall
   * rate. False when the frame is gone already or nothing is kept; the drawing
   * then falls back to the nearest recent frame.
   */
  freeze(camera: string, ts: number): Promise<boolean> {
    if (this.off || !this.deps.config.capture.missed || !this.cameras.has(camera)) return Promise.resolve(false);
    const raw = this.shelf.near(camera, ts);
    if (!raw || Math.abs(raw.captureTs - ts) > SAME_FRAME_MS) return Promise.resolve(false);
    const own = this.cameras.get(camera)!.recent.find((r) => r.frame.seq === raw.seq);
    return this.recall.pin(raw, own ? { detections: preLabels(own), model: own.model } : {});
  }

  /** A quota of 0 keeps no pictures at all. */
  private get off(): boolean {
    return this.deps.config.capture.max_mb === 0;
  }

  /** Gives back every picture held. */
  close(): void {
    for (const id of [...this.cameras.keys()]) this.removeCamera(id);
  }

  /** The first policy that picks this frame and whose rate limit allows it (near threshold, rare class, random). */
  private policyFor(cam: CameraCapture, result: InspectedFrame, now: number): PolicyName | undefined {
    const p = cam.policies;
    if (p.near_threshold.enabled && nearThreshold(result.near ?? [], this.threshold, p.near_threshold.band).length > 0 && cam.limits.near_threshold.take(now)) return 'near_threshold';
    if (p.rare_class.enabled && rareClasses(result.detections, cam.shares, p.rare_class.below_share).length > 0 && cam.limits.rare_class.take(now)) return 'rare_class';
    if (p.random.enabled && randomPick(this.random(), p.random.every) && cam.limits.random.take(now)) return 'random';
    return undefined;
  }

  private captureFrame(result: InspectedFrame, reason: PolicyName): void {
    const { camera, seq, captureTs } = result.frame;
    this.shelf.whenPicture(camera, seq, (picture) => {
      this.queue({ picture: picture.hold(), row: { id: uuidv7(), camera, ts: captureTs, kind: 'capture', reason, detections: preLabels(result), model: result.model ?? this.deps.model?.() } });
    }, () => this.skip('no_picture'));
  }

  /** Holds the picture of each unconfirmed track's last sighting; a track that ends unconfirmed has it kept. */
  private watchTracks(cam: CameraCapture, result: InspectedFrame, before: readonly TrackView[], now: number): void {
    const policy = cam.policies.unconfirmed_track;
    const tracks = cam.tracks;
    for (const t of endedUnconfirmed(before, tracks)) {
      const c = cam.candidates.get(t.trackId);
      if (!c) continue;
      cam.candidates.delete(t.trackId);
      if (c.peakHits >= policy.min_sightings && cam.limits.unconfirmed_track.take(now)) {
        this.queue({ picture: c.picture, row: { id: uuidv7(), camera: result.frame.camera, ts: c.ts, kind: 'capture', reason: 'unconfirmed_track', detections: c.detections, model: c.model } });
      } else c.picture.release();
    }
    for (const t of tracks) {
      const c = cam.candidates.get(t.trackId);
      if (t.confirmed) {
        c?.picture.release();
        cam.candidates.delete(t.trackId);
        continue;
      }
      if (t.missed > 0 || !result.frame.pictured) continue;
      if (!c && cam.candidates.size >= MAX_CANDIDATES) continue;
      const peakHits = Math.max(c?.peakHits ?? 0, t.hits);
      this.shelf.whenPicture(result.frame.camera, result.frame.seq, (picture) => {
        // The track may have been confirmed or ended while its picture was on its way.
        if (this.cameras.get(result.frame.camera) !== cam) return;
        const old = cam.candidates.get(t.trackId);
        if (!old && (cam.candidates.size >= MAX_CANDIDATES || !cam.tracks.some((x) => x.trackId === t.trackId && !x.confirmed))) return;
        old?.picture.release();
        cam.candidates.set(t.trackId, { picture: picture.hold(), detections: preLabels(result), ts: result.frame.captureTs, model: result.model ?? this.deps.model?.(), peakHits });
      }, () => undefined);
    }
  }

  private queue(job: PictureJob): void {
    this.chosen.set(job.row.reason, (this.chosen.get(job.row.reason) ?? 0) + 1);
    this.deps.writer.enqueue(job);
  }

  private skip(reason: SkipReason): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
  }
}

/** The model's detections on a frame as stored with its picture: those at or above the thresholds and those just under them. */
function preLabels(result: InspectedFrame): PictureDetection[] {
  return [...result.detections, ...(result.near ?? [])].map(toStored);
}

function toStored(d: Pick<Detection, 'classId' | 'className' | 'confidence' | 'box'>): PictureDetection {
  return { class_id: d.classId, class: d.className, confidence: d.confidence, box: { x: d.box.x, y: d.box.y, w: d.box.w, h: d.box.h } };
}
