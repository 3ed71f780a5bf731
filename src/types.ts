/**
 * Types shared between stages. Data flows one way (ingest → preprocess → infer →
 * events → store/publish/overlay); a stage imports from here, never from a later stage.
 */

/** One decoded frame, as ingest hands it on. */
export interface Frame {
  camera: string;
  /** Per camera, counts every frame received since the process started (survives ffmpeg restarts). */
  seq: number;
  /** Capture time: wall clock (ms since epoch) when the frame's first byte arrived from ffmpeg. */
  captureTs: number;
  /**
   * The frame's place in the stream, by the stream's own timestamps (ms, on the
   * wall-clock epoch: a decoder run is anchored at its first frame's capture
   * time, and never goes back across restarts). The tracker's clock: arrival
   * times say when the CPU or the network let a frame through (for a file
   * replayed as fast as possible, when the model had room), not when it was
   * filmed. Set by the camera's `FrameClock` when the frame arrives (from
   * ffmpeg's report of its timestamp, or estimated from the wall clock until
   * that report comes and corrects it); absent on frames made elsewhere (tests,
   * evaluation), whose captureTs stands in.
   */
  mediaTs?: number;
  /** Source resolution: the size of `rgb`, and of the frame boxes are given in. */
  width: number;
  height: number;
  /**
   * The full-size picture: packed RGB24, row-major, `width * height * 3` bytes.
   * ffmpeg sends it only with every k-th frame (the operator's video and
   * thumbnails need no more); the model reads `input`.
   */
  rgb?: Buffer;
  /** Its full-size picture is on its way (ffmpeg writes it just after the model input); when it comes, `rgb` is set and this flag removed. */
  pictureDue?: boolean;
  /** The frame letterboxed to the model input by ffmpeg (Ultralytics letterbox, grey 114), packed RGB24. */
  input?: { rgb: Buffer; width: number; height: number };
}

/** A frame without its pixels: what travels past inference. */
export type FrameMeta = Omit<Frame, 'rgb' | 'input'>;

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
  /** Time this frame's batch spent in the detector, ms: waiting for a session, the session call. */
  inferMs: number;
  /** Number of frames in that session call. */
  batchSize: number;
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

/** A frame that carries its full-size picture. */
export type PicturedFrame = Frame & { rgb: Buffer };

export function hasPicture(frame: Frame | undefined): frame is PicturedFrame {
  return frame?.rgb !== undefined;
}
