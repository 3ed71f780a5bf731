/**
 * Experiment (`--sweep`): the detector with its onnxruntime session in a
 * worker thread. onnxruntime-node 1.23 runs `session.run` synchronously on the
 * calling thread (dist/backend.js: a setImmediate, then the native call), so in
 * the product every inference call blocks the event loop that also reads the
 * cameras' pipes, finishes sharp jobs and answers MQTT. Here the main thread
 * letterboxes and fills the tensor, transfers it to the worker, and decodes the
 * output it gets back — the same steps as src/infer/detector.ts, one call at a time.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { LinesightError } from '../errors.js';
import type { Detector } from '../infer/detector.js';
import { decodeOutput } from '../infer/decode.js';
import { nms } from '../infer/nms.js';
import { boxToSource } from '../preprocess/letterbox.js';
import { letterboxImage } from '../preprocess/resize.js';
import { writeImageToTensor } from '../preprocess/tensor.js';
import type { Detection, Frame, ModelInfo } from '../types.js';

/** Plain CommonJS so it runs the same from src (vite-node) and dist. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
ort.env.logLevel = 'fatal';
ort.InferenceSession.create(workerData.path, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  ...(workerData.threads > 0 ? { intraOpNumThreads: workerData.threads } : {}),
}).then((session) => {
  parentPort.on('message', async (m) => {
    try {
      const out = (await session.run({ [workerData.input]: new ort.Tensor(m.type, m.data, m.dims) }))[session.outputNames[0]];
      const data = out.data.slice();
      parentPort.postMessage({ id: m.id, data, dims: out.dims }, [data.buffer]);
    } catch (err) {
      parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
    }
  });
  parentPort.postMessage({ ready: true });
}, (err) => parentPort.postMessage({ fatal: String(err && err.message || err) }));
`;

interface Reply {
  id?: number;
  ready?: boolean;
  fatal?: string;
  error?: string;
  data?: Float32Array;
  dims?: number[];
}

export interface WorkerDetectorOptions {
  path: string;
  threads: number;
  /** From the product's detector, so decoding is identical. */
  info: ModelInfo;
  confidence?: number;
  iou?: number;
}

export async function createWorkerDetector(options: WorkerDetectorOptions): Promise<Detector> {
  const { info } = options;
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ort: ortPath, path: options.path, threads: options.threads, input: info.inputName } });
  const pending = new Map<number, (reply: Reply) => void>();
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (reply: Reply) => {
      if (reply.ready) resolve();
      else if (reply.fatal) reject(new LinesightError('E_MODEL_LOAD', `the inference worker could not open ${options.path}: ${reply.fatal}`));
      else if (reply.id !== undefined) pending.get(reply.id)?.(reply);
    });
  });

  const nchw = info.inputShape[1] === 3;
  const { inputWidth: w, inputHeight: h } = info;
  const thresholds = info.classNames.map(() => options.confidence ?? 0.25);
  let nextId = 0;
  let busy: Promise<unknown> = Promise.resolve();

  async function detectBatch(frames: readonly Frame[]): Promise<Detection[][]> {
    const boxes = await Promise.all(frames.map((f) => letterboxImage(f.rgb, f.width, f.height, w, h)));
    const data = new Float32Array(3 * w * h * frames.length);
    boxes.forEach((b, i) => writeImageToTensor(b.rgb, w, h, data, i, nchw ? 'nchw' : 'nhwc'));
    const dims = nchw ? [frames.length, 3, h, w] : [frames.length, h, w, 3];
    const id = nextId++;
    const reply = await new Promise<Reply>((resolve) => {
      pending.set(id, resolve);
      worker.postMessage({ id, type: 'float32', data, dims }, [data.buffer]);
    });
    pending.delete(id);
    if (reply.error || !reply.data || !reply.dims) throw new LinesightError('E_MODEL_LOAD', `inference worker: ${reply.error ?? 'no output'}`);
    const out = reply.data;
    const outDims = reply.dims;
    return boxes.map((b) => b.transform).map((lb, i) => nms(decodeOutput(info.layout, out, i, outDims, thresholds), options.iou ?? 0.45)
      .map((c) => ({ classId: c.classId, className: info.classNames[c.classId] ?? `class${c.classId}`, confidence: c.confidence, box: boxToSource(lb, c.cx, c.cy, c.w, c.h) })));
  }

  return {
    info: { ...info, provider: 'cpu (worker thread)' },
    detect(frames) {
      if (frames.length === 0) return Promise.resolve([]);
      const run = busy.then(() => detectBatch(frames));
      busy = run.catch(() => undefined);
      return run;
    },
    async close() {
      await busy;
      await worker.terminate();
    },
  };
}
