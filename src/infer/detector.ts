import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { LinesightError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { letterboxImage, type LetterboxedImage } from '../preprocess/resize.js';
import { boxToSource, computeLetterbox, type Letterbox } from '../preprocess/letterbox.js';
import type { TensorInput } from '../preprocess/tensor.js';
import type { Detection, Frame, ModelInfo, OutputLayout } from '../types.js';
import { decodeOutput } from './decode.js';
import { describeInput, detectLayout, type InputSpec } from './model-shape.js';
import { nms } from './nms.js';
import { parseImgsz, parseUltralyticsNames, readOnnxMetadata } from './onnx-metadata.js';
import { openInProcess, openInWorker, type InferenceBackend } from './backend.js';
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
  /**
   * Where the session runs: on the main thread (this API's default; the
   * product's config defaults to `worker`), or on worker threads so the event
   * loop keeps reading cameras and talking to the broker during a call
   * (measured: +10 % frames/s with 4 cameras, BENCHMARKS.md).
   */
  thread?: 'worker' | 'main';
  /** Sessions side by side on their own worker threads (`thread: worker` only; default 1; `auto`: see openInWorker). */
  sessions?: number | 'auto';
}

/** The model behind a small interface: frames in, detections in source pixels out. */
export interface Detector {
  readonly info: ModelInfo;
  /** Runs one batched session call (or one per frame when the batch is fixed). Results are in frame order. */
  detect(frames: readonly Frame[]): Promise<Detection[][]>;
  close(): Promise<void>;
}

/**
 * Loads a YOLO-style ONNX detector, checks it is one linesight can feed and
 * decode, and picks the first execution provider that works.
 *
 * @example
 * const detector = await createDetector({ path: 'models/linesight-defects-v1.onnx', providers: ['tensorrt', 'cpu'] });
 * const [detections] = await detector.detect([frame]);
 */
export async function createDetector(options: DetectorOptions, log: Logger = silentLogger()): Promise<Detector> {
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
  const metaNames = meta.metadata.names ? parseUltralyticsNames(meta.metadata.names) : undefined;

  const sessionOptions = { providers: options.providers ?? ['cpu'], threads: options.threads ?? 0, providerOptions: options.providerOptions };
  const session = options.thread === 'worker'
    ? await openInWorker(path, sessionOptions, log, options.sessions ?? 1)
    : await openInProcess(path, sessionOptions, log);
  const outputName = session.outputNames[0];

  const tensorInput: TensorInput = { name: input.name, type: spec.type, layout: spec.layout, width: size.width, height: size.height };
  // One real run tells the actual output dims (exports often leave them dynamic).
  const warm = await runBatch(session, tensorInput, [], 1);
  const dims = warm.dims;
  const names = options.classes ?? metaNames;
  let layout: OutputLayout;
  let classCount: number;
  try {
    ({ layout, classCount } = detectLayout(dims, names?.length));
  } catch (err) {
    await session.release();
    throw err;
  }
  const classNames = names ? [...names] : Array.from({ length: classCount }, (_, i) => `class${i}`);

  const info: ModelInfo = {
    path,
    name: basename(path).replace(/\.onnx$/i, ''),
    version: meta.metadata.version ?? (meta.producerVersion || 'unknown'),
    inputName: input.name,
    inputShape: input.shape,
    inputType: input.elemType,
    inputWidth: size.width,
    inputHeight: size.height,
    dynamicBatch: spec.dynamicBatch,
    outputName,
    outputShape: meta.outputs[0].shape,
    layout,
    classNames,
    provider: session.provider,
    thread: session.thread,
    sessions: session.sessions,
    ...(session.maxCallFrames === undefined ? {} : { maxCallFrames: session.maxCallFrames }),
    metadata: meta.metadata,
  };
  log.info({ stage: 'infer', model: info.name, version: info.version, provider: info.provider, thread: session.thread, sessions: session.sessions, layout, input: `${size.width}x${size.height}`, classes: classNames },
    `model loaded on ${info.provider}`);

  const thresholds = classNames.map((name) => {
    if (options.ignoreClasses?.includes(name)) return Infinity;
    return options.classConfidence?.[name] ?? options.confidence ?? 0.25;
  });
  const iou = options.iou ?? 0.45;
  const maxDetections = options.maxDetections ?? 300;
  let busy: Promise<unknown> = Promise.resolve();

  const letterbox = (frames: readonly Frame[]) => Promise.all(frames.map((f) => modelInput(f, size)));

  async function inferBatch(boxes: LetterboxedImage[]): Promise<Detection[][]> {
    const out = await runBatch(session, tensorInput, boxes.map((b) => b.rgb), boxes.length);
    return boxes.map((b, i) => toDetections(out.data, i, out.dims, b.transform));
  }

  function toDetections(data: Float32Array, index: number, outDims: readonly number[], lb: Letterbox): Detection[] {
    const kept = nms(decodeOutput(layout, data, index, outDims, thresholds), iou, maxDetections);
    const result: Detection[] = [];
    for (const c of kept) {
      const box = boxToSource(lb, c.cx, c.cy, c.w, c.h);
      if (box.w <= 0 || box.h <= 0) continue;
      result.push({ classId: c.classId, className: classNames[c.classId] ?? `class${c.classId}`, confidence: c.confidence, box });
    }
    return result;
  }

  return {
    info,
    detect(frames) {
      if (frames.length === 0) return Promise.resolve([]);
      // The letterbox starts now (sharp works on libuv's pool), so it overlaps a call
      // still running. With one session, calls run one at a time in call order; with
      // several, the backend hands each call to a free session.
      const prepared = letterbox(frames);
      prepared.catch(() => undefined); // reported by `run` below, in its turn
      const run = (session.sessions > 1 ? prepared : busy).then(async () => {
        const boxes = await prepared;
        if (spec.dynamicBatch) return inferBatch(boxes);
        const results: Detection[][] = [];
        for (const b of boxes) results.push(...(await inferBatch([b])));
        return results;
      });
      // `busy` settles when every call so far has (the serial order, and what close() waits for).
      busy = Promise.allSettled([busy, run]).then(() => undefined); // no value: results must not pile up along the chain
      return run;
    },
    async close() {
      await busy;
      await session.release();
    },
  };
}

/**
 * A frame as the model takes it: ffmpeg's letterbox when the camera made one of
 * the model's size (same transform, so boxes map back alike), else sharp's from
 * the full-size picture.
 */
async function modelInput(frame: Frame, size: { width: number; height: number }): Promise<LetterboxedImage> {
  const made = frame.input;
  if (made && made.width === size.width && made.height === size.height) {
    const expected = size.width * size.height * 3;
    if (made.rgb.length !== expected) {
      throw new LinesightError('E_FRAME_SIZE', `Expected ${expected} bytes for a ${size.width}×${size.height} RGB24 model input but received ${made.rgb.length}`);
    }
    return { rgb: made.rgb, transform: computeLetterbox(frame.width, frame.height, size.width, size.height) };
  }
  if (!frame.rgb) {
    const found = made ? `only a ${made.width}×${made.height} model input` : 'no pixels';
    throw new LinesightError('E_FRAME_SIZE', `Expected a full-size frame or a ${size.width}×${size.height} model input from camera ${frame.camera} but found ${found}`);
  }
  return letterboxImage(frame.rgb, frame.width, frame.height, size.width, size.height);
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

async function runBatch(session: InferenceBackend, input: TensorInput, images: readonly Buffer[], batch: number): Promise<{ data: Float32Array; dims: number[] }> {
  const output = await session.run(input, { images, batch });
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
