import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { LinesightError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { boxToSource, computeLetterbox, type Letterbox } from '../preprocess/letterbox.js';
import type { TensorInput } from '../preprocess/tensor.js';
import type { Detection, Frame, ModelInfo } from '../types.js';
import { openInWorker, type InferenceBackend } from './backend.js';
import { decodeOutput } from './decode.js';
import { describeInput, detectLayout, type InputSpec } from './model-shape.js';
import { nms } from './nms.js';
import { parseImgsz, parseUltralyticsNames, readOnnxMetadata, type OnnxModelMetadata } from './onnx-metadata.js';
import type { ProviderName, SessionOptions } from './session.js';

export interface DetectorOptions {
  path: string;
  providers?: readonly ProviderName[];
  /** Global minimum confidence (default 0.25). */
  confidence?: number;
  /** NMS IoU threshold (default 0.45). */
  iou?: number;
  /** Class names overriding the model metadata. */
  classes?: readonly string[];
  /** Per-class minimum confidence by class name, overriding `confidence`. */
  classConfidence?: Readonly<Record<string, number>>;
  ignoreClasses?: readonly string[];
  threads?: number;
  /** Input size for models whose spatial dims are dynamic and carry no imgsz. */
  input?: { width: number; height: number };
  maxDetections?: number;
  providerOptions?: SessionOptions['providerOptions'];
  /** Sessions side by side, each on its own worker thread (default 1; `auto`: see poolPlan). */
  sessions?: number | 'auto';
  /** Also report, as `near`, detections this far below their class's threshold (picture capture); 0 or unset: none. */
  captureBand?: number;
}

/** One frame's detections (at or above their class's threshold); `near`: those within `captureBand` below it, when asked for. */
export type FrameDetections = Detection[] & { near?: Detection[] };

/** The model behind a small interface: letterboxed frames in, detections in source pixels out. */
export interface Detector {
  readonly info: ModelInfo;
  /**
   * Runs one batched session call (or one per frame when the batch is fixed) on
   * the frames' model inputs (`Frame.input`, letterboxed by ffmpeg to the
   * model's size). Results are in frame order.
   */
  detect(frames: readonly Frame[]): Promise<FrameDetections[]>;
  close(): Promise<void>;
}

/** What the model file says about its input, checked before a session is opened. */
interface ModelFile {
  meta: OnnxModelMetadata;
  spec: InputSpec;
  tensorInput: TensorInput;
  names?: readonly string[];
}

/**
 * Loads a YOLO-style ONNX detector on worker threads, checks it is one
 * linesight can feed and decode, and picks the first execution provider that
 * works.
 *
 * @example
 * const detector = await createDetector({ path: 'models/linesight-defects-v1.onnx', providers: ['tensorrt', 'cuda', 'cpu'] });
 * const [detections] = await detector.detect([frame]); // frame.input: ffmpeg's letterbox at detector.info's input size
 */
export async function createDetector(options: DetectorOptions, log: Logger = silentLogger()): Promise<Detector> {
  const file = readModelFile(options);
  const sessionOptions = { providers: options.providers ?? ['cpu'], threads: options.threads ?? 0, providerOptions: options.providerOptions };
  const backend = await openInWorker(options.path, sessionOptions, log, options.sessions ?? 1);
  let info: ModelInfo;
  try {
    info = await describeModel(options, file, backend);
  } catch (err) {
    await backend.release();
    throw err;
  }
  log.info({ stage: 'infer', model: info.name, version: info.version, provider: info.provider, sessions: info.sessions, layout: info.layout,
    input: `${info.inputWidth}x${info.inputHeight}`, classes: info.classNames }, `model loaded on ${info.provider}`);
  return detectorOn(backend, info, file.tensorInput, options);
}

function readModelFile(options: DetectorOptions): ModelFile {
  const { path } = options;
  if (!existsSync(path)) {
    throw new LinesightError('E_MODEL_NOT_FOUND', `Expected an ONNX model file at ${path} but there is no such file`);
  }
  const meta = readOnnxMetadata(path);
  if (meta.inputs.length === 0 || meta.outputs.length === 0) {
    throw new LinesightError('E_MODEL_SHAPE', `Expected a model with an image input and a detection output but ${path} declares ${meta.inputs.length} input(s) and ${meta.outputs.length} output(s)`);
  }
  const input = meta.inputs[0];
  const spec = describeInput(input);
  const size = inputSize(spec, meta.metadata.imgsz, options.input, input.name);
  const names = options.classes ?? (meta.metadata.names ? parseUltralyticsNames(meta.metadata.names) : undefined);
  return { meta, spec, names, tensorInput: { name: input.name, type: spec.type, layout: spec.layout, ...size } };
}

/** Runs the model once on a grey frame: the actual output dims (exports often leave them dynamic) tell the layout and class count. */
async function describeModel(options: DetectorOptions, file: ModelFile, backend: InferenceBackend): Promise<ModelInfo> {
  const { meta, spec, tensorInput } = file;
  const warm = await runBatch(backend, tensorInput, [], 1);
  const { layout, classCount } = detectLayout(warm.dims, file.names?.length);
  return {
    path: options.path,
    name: basename(options.path).replace(/\.onnx$/i, ''),
    version: meta.metadata.version ?? (meta.producerVersion || 'unknown'),
    inputName: tensorInput.name,
    inputShape: meta.inputs[0].shape,
    inputType: meta.inputs[0].elemType,
    inputWidth: tensorInput.width,
    inputHeight: tensorInput.height,
    dynamicBatch: spec.dynamicBatch,
    outputName: backend.outputNames[0],
    outputShape: meta.outputs[0].shape,
    layout,
    classNames: file.names ? [...file.names] : Array.from({ length: classCount }, (_, i) => `class${i}`),
    provider: backend.provider,
    sessions: backend.sessions,
    ...(backend.maxCallFrames === undefined ? {} : { maxCallFrames: backend.maxCallFrames }),
    metadata: meta.metadata,
  };
}

/** A model input and the transform that maps its boxes back to the source frame. */
interface Letterboxed {
  rgb: Buffer;
  transform: Letterbox;
}

function detectorOn(backend: InferenceBackend, info: ModelInfo, tensorInput: TensorInput, options: DetectorOptions): Detector {
  const decode = detectionDecoder(info, options);
  // Calls still running, for close(): the backend queues calls beyond its sessions, in call order.
  const pending = new Set<Promise<unknown>>();

  async function inferBatch(inputs: readonly Letterboxed[]): Promise<FrameDetections[]> {
    const out = await runBatch(backend, tensorInput, inputs.map((b) => b.rgb), inputs.length);
    return inputs.map((b, i) => decode(out.data, i, out.dims, b.transform));
  }

  async function inferFrames(frames: readonly Frame[]): Promise<FrameDetections[]> {
    const inputs = frames.map((f) => modelInput(f, tensorInput));
    if (info.dynamicBatch) return inferBatch(inputs);
    const results: FrameDetections[] = [];
    for (const b of inputs) results.push(...(await inferBatch([b])));
    return results;
  }

  return {
    info,
    detect(frames) {
      if (frames.length === 0) return Promise.resolve([]);
      const run = inferFrames(frames);
      const settled = run.then(() => undefined, () => undefined); // the caller gets the error; close() only waits
      pending.add(settled);
      void settled.then(() => pending.delete(settled));
      return run;
    },
    async close() {
      await Promise.all(pending);
      await backend.release();
    },
  };
}

/** Output tensor → detections of one frame in source pixels: per-class thresholds, NMS, letterbox undone. */
function detectionDecoder(info: ModelInfo, options: DetectorOptions) {
  const { classNames, layout } = info;
  const thresholds = classNames.map((name) => {
    if (options.ignoreClasses?.includes(name)) return Infinity;
    return options.classConfidence?.[name] ?? options.confidence ?? 0.25;
  });
  const iou = options.iou ?? 0.45;
  const maxDetections = options.maxDetections ?? 300;
  // Greedy NMS keeps a box only against stronger ones, so decoding from a lower floor leaves the detections at or above the thresholds as they were.
  const band = options.captureBand ?? 0;
  const floors = band > 0 ? thresholds.map((t) => Math.max(0, t - band)) : thresholds;
  return (data: Float32Array, index: number, dims: readonly number[], lb: Letterbox): FrameDetections => {
    const kept = nms(decodeOutput(layout, data, index, dims, floors), iou, maxDetections);
    const result: FrameDetections = [];
    const near: Detection[] = [];
    for (const c of kept) {
      const box = boxToSource(lb, c.cx, c.cy, c.w, c.h);
      if (box.w <= 0 || box.h <= 0) continue;
      const d = { classId: c.classId, className: classNames[c.classId] ?? `class${c.classId}`, confidence: c.confidence, box };
      (c.confidence >= thresholds[c.classId] ? result : near).push(d);
    }
    if (band > 0) result.near = near;
    return result;
  };
}

/** A frame's model input as ffmpeg letterboxed it, checked against the model's size; the transform is the one ffmpeg applied (same rounding). */
function modelInput(frame: Frame, size: { width: number; height: number }): Letterboxed {
  const made = frame.input;
  if (!made || made.width !== size.width || made.height !== size.height) {
    const found = made ? `a ${made.width}×${made.height} one` : 'none';
    throw new LinesightError('E_FRAME_SIZE', `Expected a ${size.width}×${size.height} model input from camera ${frame.camera} but found ${found}`);
  }
  const expected = size.width * size.height * 3;
  if (made.rgb.length !== expected) {
    throw new LinesightError('E_FRAME_SIZE', `Expected ${expected} bytes for a ${size.width}×${size.height} RGB24 model input but received ${made.rgb.length}`);
  }
  return { rgb: made.rgb, transform: computeLetterbox(frame.width, frame.height, size.width, size.height) };
}

function inputSize(spec: InputSpec, imgsz: string | undefined, configured: DetectorOptions['input'], name: string): { width: number; height: number } {
  if (spec.width && spec.height) return { width: spec.width, height: spec.height };
  const fromMeta = imgsz ? parseImgsz(imgsz) : undefined;
  const size = configured ?? fromMeta;
  if (!size) {
    throw new LinesightError('E_MODEL_SHAPE',
      `Expected a fixed input size for "${name}" (in the model, its imgsz metadata or model.input in the config) but the model leaves height and width dynamic`);
  }
  return size;
}

async function runBatch(backend: InferenceBackend, input: TensorInput, images: readonly Buffer[], batch: number): Promise<{ data: Float32Array; dims: number[] }> {
  const output = await backend.run(input, images, batch);
  if (output.type !== 'float32') {
    throw new LinesightError('E_MODEL_LAYOUT', `Expected a float32 detection output but found ${output.type} with dims [${output.dims.join(', ')}]`);
  }
  return { data: output.data, dims: output.dims };
}

/**
 * Most frames per session call: one for a model with a fixed batch, at most
 * what the sessions want (one for the CPU pool of single-thread sessions, which
 * spends the same CPU per frame at batch 1 as at batch 4: 13.1 vs 13.4 core-ms
 * here, BENCHMARKS.md), else `model.batch_max`.
 */
export function framesPerCall(info: Pick<ModelInfo, 'dynamicBatch' | 'maxCallFrames'>, batchMax: number): number {
  return info.dynamicBatch ? Math.min(batchMax, info.maxCallFrames ?? batchMax) : 1;
}
