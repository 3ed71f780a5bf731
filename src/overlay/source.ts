import type { CameraSnapshot, DefectEvent, InspectedFrame, ModelInfo, Picture } from '../types.js';

import type { Unsubscribe } from '../listeners.js';
export type { Unsubscribe } from '../listeners.js';

/** A live track as the tracker reports it (src/events). */
export type { TrackView } from '../events/index.js';
import type { TrackView } from '../events/index.js';

import type { VerdictBody } from '../verdicts/body.js';
import type { AlertVerdictSummary } from '../verdicts/service.js';
export type { AlertVerdictSummary } from '../verdicts/service.js';

/** An operator's verdict as the overlay's API and messages carry it (the MQTT payload without its envelope). */
export type VerdictView = VerdictBody;

/** An alert as the overlay lists it: the event plus its per-camera sequence number once stored, and its latest verdict. */
export type AlertView = DefectEvent & { seq?: number; verdict?: AlertVerdictSummary };

/** The line's models as the overlay's API offers them (src/models/): answers ready to be sent as JSON. */
export interface ModelsApi {
  /** The models on the box with their roles, the load in progress, the last changes. */
  list(): Record<string, unknown>;
  /** Active model against the candidate, per camera and class, since `since` (ms; default the last 24 h). */
  compare(since?: number): Record<string, unknown>;
  /** `model`: a version, a sha256 (or a unique prefix), or a path to an .onnx file. Rejects with a LinesightError; the running model stays. */
  activate(model: string, requestedBy: string): Promise<unknown>;
  rollback(requestedBy: string): Promise<unknown>;
  /** Starts a shadow run of `model` (null: stops the one running). */
  shadow(model: string | null, requestedBy: string): Promise<unknown>;
}

/**
 * Everything the overlay reads from the running line, and nothing else: the
 * overlay never reaches into a stage. `src/app.ts` provides it.
 */
export interface OverlaySource {
  site: string;
  line: string;
  model(): ModelInfo;
  cameras(): CameraSnapshot[];
  /** Every full-size picture of every camera (the overlay throttles to its preview rate); valid during the call, hold it to keep it. */
  onPicture(listener: (picture: Picture) => void): Unsubscribe;
  /** Detections (and tracks, once the tracker runs) per inspected frame. */
  onInspected(listener: (result: InspectedFrame, tracks: TrackView[]) => void): Unsubscribe;
  /** A confirmed defect, after it is stored in the outbox, with the picture its box comes from (or the nearest) when at hand; valid during the call. */
  onAlert(listener: (alert: AlertView, picture?: Picture) => void): Unsubscribe;
  /** The last alerts from SQLite, newest first (for a page that just opened). */
  recentAlerts(limit: number): AlertView[];
  /**
   * Learns camera `camera`'s health baseline again from its next frames (after
   * it was re-aimed or refocused on purpose). Throws E_ARGUMENT for a camera that
   * is not running. Absent when the line offers no such action.
   */
  relearnHealth?(camera: string): void;
  /**
   * Judges alert `alertId` with the request body the page sent (`verdict`,
   * `operator`, `replace?`); the verdict is stored when it returns. Throws a
   * verdict refusal (src/verdicts/refusal.ts) for a bad body, an unknown alert,
   * or one already judged. Absent when the line takes no verdicts.
   */
  verdict?(alertId: string, body: unknown): VerdictView;
  /** Records a defect the model missed on camera `camera` (`class`, `box`, `frame`, `operator`); refusals as `verdict`. */
  missed?(camera: string, body: unknown): VerdictView;
  /** The last `limit` missed defects and withdrawals, oldest first, for a page that connects. */
  recentMissed?(limit: number): VerdictView[];
  /** Takes back missed defect `verdictId` (`operator`): it was drawn by mistake; refusals as `verdict`. */
  withdraw?(verdictId: string, body: unknown): VerdictView;
  /**
   * The page froze frame `ts` of camera `camera` to draw on it: the line keeps
   * that exact frame for the missed defects drawn on it, when it still can
   * (`kept`). Refusals as `verdict`; absent when the line keeps no pictures.
   */
  freeze?(camera: string, body: unknown): Promise<{ kept: boolean }>;
  /** Every stored verdict, for the pages. */
  onVerdict?(listener: (verdict: VerdictView) => void): Unsubscribe;
  /** Model list, comparison and changes (docs/models.md); absent when the line offers none. */
  models?: ModelsApi;
  /** Extra health facts (MQTT connected, outbox depth, …) for /healthz and /metrics. */
  health(): { alive: boolean; mqttConnected?: boolean; outboxDepth?: number; [k: string]: unknown };
}
