/**
 * The shape of `linesight bench` output (written as JSON, printed as a table).
 * Rates are frames per second, times are milliseconds, CPU is percent of one
 * core (200 % = both cores of a 2-core box), memory is MiB.
 */
import type { DecoderScheduling } from '../config/schema.js';

export const BENCH_SCHEMA = 'linesight.bench/2';

export interface Percentiles {
  /** Samples behind the figures; percentiles of 0 samples are null. */
  n: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface MachineInfo {
  /** `os.availableParallelism()`: the core pool decode and inference share. */
  cores: number;
  cpuModel: string;
  memTotalMb: number;
  node: string;
  ffmpeg: string;
  onnxruntime: string;
  /** 1-minute load average when the bench started (others' work shares the cores). */
  loadAverageAtStart: number;
}

export interface ClipInfo {
  path: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  codec: string;
}

export interface ModelSummary {
  path: string;
  name: string;
  provider: string;
  inputWidth: number;
  inputHeight: number;
  inputType: string;
  dynamicBatch: boolean;
  /** Frames per session call in the pipeline (`model.batch_max`, 1 for a fixed-batch model). */
  pipelineBatch: number;
  /** `model.threads` (0: onnxruntime's default). */
  threads: number;
  /** `model.sessions` of the pipeline runs (`auto` resolved: how many worker threads the pool opened). */
  sessions: number;
}

/**
 * (1) ffmpeg alone, same flags as the pipeline: the model input (letterboxed by
 * ffmpeg) on stdout and every k-th frame at full size on fd 3, read and discarded.
 */
export interface DecodeResult {
  /** `ingest.decode_threads` (0: ffmpeg's choice), as the pipeline's cameras run. */
  threads: number;
  /** `ingest.decoder_scheduling`, as the pipeline's cameras run. */
  scheduling: DecoderScheduling;
  args: string[];
  /** Model inputs on stdout. */
  frames: number;
  seconds: number;
  fps: number;
  frameBytes: number;
  /** Full-size frames ffmpeg sent on fd 3 in the window (every k-th, for the preview). */
  fullSizeFrames: number;
  /** CPU seconds per frame: ffmpeg plus this process reading the pipe (core-ms). */
  cpuMsPerFrame: number;
  /** Average CPU while decoding, percent of one core. */
  cpuPct: number;
}

/**
 * (2) the model's sessions alone, on the pipeline's worker threads, fed model
 * inputs as a letterboxing camera hands them over (the tensor fill included),
 * warm-up excluded.
 */
export interface SessionResult {
  batch: number;
  threads: number;
  /** Sessions side by side (worker threads); `fps` is their sum, `callMs` per call. */
  sessions: number;
  calls: number;
  seconds: number;
  /** Frames per second (calls × batch / seconds). */
  fps: number;
  callMs: Percentiles;
  cpuMsPerFrame: number;
  cpuPct: number;
}

export interface Bound {
  /** Frames/s the pipeline cannot exceed on this core pool; see BENCHMARKS.md. */
  fps: number;
  /** Which term of the min() decided it. */
  limitedBy: 'cpu' | 'session' | 'decode' | 'offered';
  /** P / (decode cpu/frame + session cpu/frame): the work bound. */
  cpuBound: number;
  /** The session's own rate at this batch size (session calls are serial). */
  sessionBound: number;
  /** N cameras × the single-decoder rate. */
  decodeBound: number;
  /** 1 / (1/decode + 1/session): the bound when each stage alone saturates the pool. */
  harmonic: number;
  /** Frames/s the cameras offer (after -r), when paced; null when as fast as possible. */
  offered: number | null;
  /** Batch size whose session figures were used. */
  batch: number;
  /**
   * Cores left to the bench during the run: P minus the machine's other busy
   * time (/proc/stat), set after the run; null before. On a shared machine this,
   * not P, is what the pipeline competed for.
   */
  availableCores: number | null;
  /** The bound with `cpuBound` scaled to `availableCores`; null before the run. */
  availableFps: number | null;
}

export interface DropCounts {
  superseded: number;
  bad_frame: number;
  inference_error: number;
  shutdown: number;
}

export interface PeakRss {
  /** This process (VmHWM, reset at the start of the window). */
  selfMb: number;
  /** Sum over the ffmpeg children of their peak (VmHWM). */
  childrenMb: number;
  totalMb: number;
}

export interface PipelineResult {
  label: string;
  source: 'file' | 'rtsp';
  cameras: number;
  /** Per-camera `fps` in the config (ffmpeg -r). */
  cameraFps: number;
  batchMax: number;
  seconds: number;
  framesReceived: number;
  framesInspected: number;
  /** Inspected frames per second over the window. */
  fps: number;
  /** Frames per second ffmpeg handed over (offered to the scheduler). */
  receivedFps: number;
  bound: Bound;
  /** fps / bound.fps */
  ratio: number;
  /** fps / bound.availableFps: the ratio on the cores others left us. */
  ratioAvailable: number;
  dropped: DropCounts;
  /** Capture (frame handed over by ffmpeg) → detections ready. */
  inferLatencyMs: Percentiles;
  /**
   * The two parts of capture→inferred, per frame: the session call its batch
   * rode in (from the scheduler handing the batch to the detector to its
   * results, so the tensor fill and the worker's message included), and the
   * wait before it (for a free session, and for the event loop to read the frame).
   */
  callMs: Percentiles;
  waitMs: Percentiles;
  /**
   * Paced (RTSP) runs: how much later than the quickest frame of its camera
   * each frame reached linesight, given its place in the stream (decoding plus
   * waiting for a core, which capture→inferred does not see). Empty for file runs.
   */
  arrivalDelayMs: Percentiles;
  /** Capture of the confirming frame → PUBACK from the broker (store `sent_at`). */
  pubackLatencyMs: Percentiles;
  alerts: number;
  meanBatch: number;
  /** This process plus its ffmpeg children, percent of one core. */
  cpuPct: number;
  cpuSelfPct: number;
  cpuChildrenPct: number;
  /** Whole machine busy over the window, percent of one core, and the part not ours. */
  machineBusyPct: number;
  otherBusyPct: number;
  peakRss: PeakRss;
  restarts: number;
}

/** (1b) the camera health checks alone, on model inputs of the bench clip. */
export interface HealthCostResult {
  /** Samples timed (after learning: grey copy, measures, match against the reference). */
  samples: number;
  /** False when the clip's frames taught no baseline (a uniform or dark picture): the figure then leaves out the judging, the dearer part. */
  judged: boolean;
  inputWidth: number;
  inputHeight: number;
  /** Wall (= CPU: synchronous, one thread) ms per sample. */
  msPerSample: number;
  /** `health.sample_fps`'s default. */
  sampleFps: number;
  /** Share of one core the checks take per camera at that rate, percent. */
  corePctPerCamera: number;
}

/** (1c) a shadow run of a candidate model (docs/models.md) at the default share. */
export interface ShadowCostResult {
  provider: string;
  /** `model.shadow.threads`'s default: the candidate session's threads. */
  threads: number;
  frames: number;
  /** Wall ms per shadow frame (copy + one single-frame call). */
  msPerFrame: number;
  /** CPU ms per shadow frame, all threads. */
  cpuMsPerFrame: number;
  /** `model.shadow.share`'s default, and the default camera rate (`cameras[].fps`). */
  share: number;
  cameraFps: number;
  /** Share of one core a shadow run takes per camera at that share and rate, percent. */
  corePctPerCamera: number;
}

export interface SoakSample {
  atS: number;
  selfRssMb: number;
  childrenRssMb: number;
  heapUsedMb: number;
  fps: number;
  inferLatencyP50: number | null;
  inferLatencyP99: number | null;
}

export interface SoakResult {
  durationS: number;
  cameras: number;
  source: 'file' | 'rtsp';
  cameraFps: number;
  intervalS: number;
  samples: SoakSample[];
  /** Median of the last tenth over median of the first tenth (after warm-up), minus one, percent. */
  rssGrowthPct: number;
  totalRssGrowthPct: number;
  heapGrowthPct: number;
  inferLatencyP99First: number | null;
  inferLatencyP99Last: number | null;
}

export interface PeerResult {
  ok: boolean;
  /** Why the peer did not run (OpenCV could not import the model, no python3-opencv…). */
  error?: string;
  frames?: number;
  seconds?: number;
  fps?: number;
  cpuPct?: number;
  /** What the peer did to the model so OpenCV 4.6 imports it. */
  modelRewrites?: string[];
  opencv?: string;
  /** linesight 1-camera file fps / peer fps. */
  ratio?: number;
  /** Best linesight pipeline fps (any N) / peer fps. */
  ratioBest?: number;
}

export interface TargetCheck {
  name: string;
  target: string;
  measured: string;
  /** null when this run did not measure it (e.g. no --soak). */
  met: boolean | null;
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  clip: ClipInfo;
  model: ModelSummary;
  /** mosquitto (with `set_tcp_nodelay true`) when installed, else linesight's embedded broker. */
  broker: { kind: 'mosquitto' | 'embedded'; url: string };
  decode: DecodeResult;
  /** The health checks' cost per camera. */
  health?: HealthCostResult;
  /** A shadow run's cost per camera. */
  shadow?: ShadowCostResult;
  session: SessionResult[];
  pipeline: PipelineResult[];
  overload: PipelineResult | null;
  soak: SoakResult | null;
  peer: PeerResult | null;
  /** Per-frame latency budget for the latency targets: decode cpu/frame + one session call. */
  latencyBudgetMs: number;
  targets: TargetCheck[];
  notes: string[];
}
