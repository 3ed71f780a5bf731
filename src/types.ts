import type { HealthSnapshot } from './health/types.js';

/**
 * Types shared between stages. Data flows one way (ingest → preprocess → infer →
 * events → store/publish/overlay); a stage imports from here, never from a later stage.
 */

/**
 * Something lent by its owner's pool: give it back with `release()` once done
 * (idempotent). Buffers return to their pool only this way, never by a field
 * being deleted from a message another stage still holds.
 */
export interface Lease {
  release(): void;
}

/**
 * A frame's model input: letterboxed by ffmpeg to the model's size
 * (Ultralytics letterbox, grey 114), packed RGB24, in shared memory lent by
 * the camera. The inference stage releases it once the frame's call settled
 * or the frame was dropped; the pixels must not be read after that.
 */
export interface ModelInput extends Lease {
  readonly rgb: Buffer;
  readonly width: number;
  readonly height: number;
}

/** One decoded frame, as ingest hands it on. Immutable once emitted. */
export interface Frame {
  readonly camera: string;
  /** Per camera, counts every frame received since the process started (survives ffmpeg restarts). */
  readonly seq: number;
  /** Capture time: wall clock (ms since epoch) when the frame's first byte arrived from ffmpeg. What payloads say. */
  readonly captureTs: number;
  /**
   * The same moment on the monotonic clock (`Clock.monotonic`, ms): every
   * duration from capture (inspection latency, delivery latency) is measured
   * from it, so a step of the wall clock never bends one.
   */
  readonly captureMono: number;
  /**
   * The frame's place in the stream, by the stream's own timestamps (ms, on the
   * monotonic clock's timeline: a decoder run is anchored at its first frame's
   * arrival, and never goes back across restarts). The tracker's clock: arrival
   * times say when the CPU or the network let a frame through (for a file
   * replayed as fast as possible, when the model had room), not when it was
   * filmed. Set by the camera's `FrameClock` before the frame is emitted (from
   * ffmpeg's report of its timestamp, or an estimate from the monotonic clock
   * when the report is late); absent on frames made elsewhere (tests,
   * evaluation), whose captureTs stands in.
   */
  readonly mediaTs?: number;
  /** Source resolution: the size of the frame's `Picture`, and of the frame boxes are given in. */
  readonly width: number;
  readonly height: number;
  /** The model input. */
  readonly input: ModelInput;
  /**
   * A full-size `Picture` of this frame is sent too (ffmpeg writes one every
   * k-th frame, for the operator's video and alert thumbnails), usually just
   * after the frame.
   */
  readonly pictured: boolean;
}

/** A frame without its pixels: what travels past inference. */
export type FrameMeta = Omit<Frame, 'input'>;

/**
 * A frame's full-size picture, sent as its own message (camera, frame `seq`,
 * pixels). Its buffer is lent by the camera's pool, shared by reference
 * counting: a listener that keeps the picture past its call takes a share
 * with `hold()` and gives it back with `release()`; the buffer is reused only
 * once every share is back, so a held picture never shows another frame.
 */
export interface Picture extends Lease {
  readonly camera: string;
  /** The `seq` of the frame it shows. */
  readonly seq: number;
  readonly captureTs: number;
  readonly width: number;
  readonly height: number;
  /** Packed RGB24, row-major, `width * height * 3` bytes; valid while a share is held. */
  readonly rgb: Buffer;
  /** Takes one more share (returns the same picture). */
  hold(): Picture;
}

/** Axis-aligned box in source-frame pixels; `x, y` is the top-left corner. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Detection {
  classId: number;
  className: string;
  confidence: number;
  box: Box;
}

/** The inference stage's result for one frame. */
export interface InspectedFrame {
  frame: FrameMeta;
  detections: Detection[];
  /** Wall clock (ms) when the detections were ready. */
  inferredAt: number;
  /** Capture → detections ready, ms, on the monotonic clock (never negative). */
  latencyMs: number;
  /** Time this frame's batch spent in the detector, ms: waiting for a session, the session call. */
  inferMs: number;
  /** Number of frames in that session call. */
  batchSize: number;
  /** Detections just under their class's threshold (within the capture band), when picture capture asks for them; never tracked or alerted. */
  near?: Detection[];
  /** The model that inspected the frame (the line can swap models between batches); absent on frames inspected elsewhere (tests, evaluation). */
  model?: ModelRef;
}

/** A model as alerts name it. */
export interface ModelRef {
  name: string;
  version: string;
}

export type CameraState = 'connecting' | 'online' | 'reconnecting' | 'stopped';

/** Why a frame never reached the model, or its result never came back (`inference_error`: its batch's session call failed). */
export type DropReason = 'superseded' | 'bad_frame' | 'shutdown' | 'inference_error';

export interface CameraError {
  code: string;
  message: string;
  /** ms since epoch */
  at: number;
}

/** A camera's audit trail: what it delivered and what happened to it. */
export interface CameraSnapshot {
  id: string;
  state: CameraState;
  /** Source resolution once known. */
  width?: number;
  height?: number;
  /** Frames per second received over the last few seconds. */
  fps: number;
  framesReceived: number;
  framesInspected: number;
  framesDropped: Record<DropReason, number>;
  restarts: number;
  lastFrameTs?: number;
  lastError?: CameraError;
  /** The camera's health (src/health/), when the line watches it: a camera that sends frames may still be blind. */
  health?: HealthSnapshot;
  /** Of `framesInspected`, those inspected while the camera was degraded: inspected, but not proof of a clean part. */
  framesInspectedDegraded?: number;
  /** Seconds the camera has been degraded since the process started. */
  secondsDegraded?: number;
}

/** A confirmed defect: one per physical defect, emitted once by the tracker. */
export interface DefectEvent {
  /** UUIDv7, time-ordered; the subscriber's dedup key. */
  id: string;
  camera: string;
  trackId: number;
  classId: number;
  className: string;
  confidence: number;
  /** Box of the best detection of the track so far, source-frame pixels. */
  box: Box;
  /** The frame the box comes from. */
  frame: { width: number; height: number; ts: number };
  /** Capture time of the frame that confirmed the event (ms since epoch). */
  ts: number;
  /** Wall clock when the event was confirmed (ms since epoch). */
  confirmedAt: number;
  /** The production context in force at `ts` (from the MES or the command line), when the line has one. */
  context?: ProductionContext;
  /** The recipe whose thresholds and regions the confirming frame was inspected with, when recipes are configured. */
  recipe?: string;
}

/**
 * What the line is producing, as the MES states it on `{prefix}/{site}/{line}/context`
 * (or `linesight context set`): its wire form, stamped as is on alerts, health
 * events and verdicts. `ts` is when it took effect (ISO 8601).
 */
export interface ProductionContext {
  order?: string | null;
  lot?: string | null;
  part_id?: string | null;
  product?: string | null;
  shift?: string | null;
  operator?: string | null;
  extra?: Record<string, unknown>;
  ts: string;
}

/** Description of a loaded model, for logs, status and `inspect-model`. */
export interface ModelInfo {
  path: string;
  name: string;
  version: string;
  inputName: string;
  /** Declared input shape; strings or -1 for dynamic dims. */
  inputShape: Array<number | string>;
  inputType: string;
  /** Spatial size the frames are letterboxed to. */
  inputWidth: number;
  inputHeight: number;
  /** True when the batch dimension is dynamic, so frames of several cameras can share one call. */
  dynamicBatch: boolean;
  outputName: string;
  outputShape: Array<number | string>;
  layout: OutputLayout;
  classNames: string[];
  provider: string;
  /** Sessions running calls side by side (each on its own worker thread). */
  sessions: number;
  /** Most frames a call should carry, when the sessions fix it (see `framesPerCall`). */
  maxCallFrames?: number;
  metadata: Record<string, string>;
}

/**
 * `yolov8`: `[B, 4+nc, N]`, rows cx, cy, w, h then one score per class (YOLOv8, YOLO11).
 * `yolov5`: `[B, N, 5+nc]`, columns cx, cy, w, h, objectness then class scores.
 */
export type OutputLayout = 'yolov8' | 'yolov5';
