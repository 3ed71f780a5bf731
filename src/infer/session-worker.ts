/**
 * The inference worker: owns one onnxruntime session on a worker thread.
 *
 * onnxruntime-node runs `session.run` synchronously on the calling thread (its
 * `run` is a `setImmediate` around the native call), so a session on the main
 * thread blocks the event loop that reads the cameras' pipes, finishes sharp
 * jobs and answers the broker for the whole call. Here the main thread only
 * hands over the letterboxed images (uint8: shared when they are in shared
 * memory, as ffmpeg-letterboxed inputs are, copied otherwise); this thread
 * writes them into its own input tensor, kept between calls (one call at a
 * time per worker), and sends the output back transferred. It reads the
 * images before it replies, and the camera reuses a shared buffer only after
 * the reply (`InputPool`).
 *
 * Protocol (see `openInWorker` in backend.ts): workerData carries the
 * model path and `SessionOptions`; the worker answers `{ opened }` or
 * `{ failed }` once, then one `{ id, … }` reply per `{ id, run }` request.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { errorMessage, LinesightError } from '../errors.js';
import { silentLogger } from '../log.js';
import { TensorStore, tensorDims, type TensorData, type TensorInput } from '../preprocess/tensor.js';
import { openSession, type SessionOptions } from './session.js';

export interface WorkerInit {
  path: string;
  options: SessionOptions;
}

export interface RunRequest {
  id: number;
  input: TensorInput;
  batch: number;
  /** Packed RGB24 images at the input's size, written into this worker's tensor … */
  images?: Uint8Array[];
  /** … or a tensor ready made (transferred). */
  tensor?: TensorData;
}

export type WorkerReply =
  | { opened: { provider: string; skipped: Array<{ provider: string; reason: string }>; inputNames: string[]; outputNames: string[] } }
  | { failed: { code: string; message: string; details?: unknown } }
  | { id: number; output: { type: string; data: Float32Array; dims: number[] } }
  | { id: number; error: string };

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('session-worker.js runs only as a worker thread');
  const init = workerData as WorkerInit;
  let session: ort.InferenceSession;
  try {
    const opened = await openSession(init.path, init.options, silentLogger()); // the main thread logs the fallback
    session = opened.session;
    port.postMessage({
      opened: { provider: opened.provider, skipped: opened.skipped, inputNames: [...session.inputNames], outputNames: [...session.outputNames] },
    } satisfies WorkerReply);
  } catch (err) {
    const e = err as Partial<LinesightError>;
    port.postMessage({ failed: { code: e.code ?? 'E_MODEL_LOAD', message: errorMessage(err), details: e.details } } satisfies WorkerReply);
    return;
  }
  const tensors = new TensorStore();
  port.on('message', async (m: RunRequest | { release: true }) => {
    if ('release' in m) {
      await session.release();
      port.close();
      return;
    }
    let filled: TensorData | undefined;
    try {
      const data = m.tensor ?? (filled = tensors.fill(m.input, m.images ?? [], m.batch));
      const results = await session.run({ [m.input.name]: new ort.Tensor(m.input.type, data, tensorDims(m.input, m.batch)) });
      const out = results[session.outputNames[0]];
      // The output may be a view on memory onnxruntime reuses: send our own copy, transferred.
      const copy = (out.data as Float32Array).slice();
      port.postMessage({ id: m.id, output: { type: out.type, data: copy, dims: [...out.dims] } } satisfies WorkerReply, [copy.buffer]);
    } catch (err) {
      port.postMessage({ id: m.id, error: errorMessage(err) } satisfies WorkerReply);
    } finally {
      if (filled) tensors.giveBack(filled, m.batch);
    }
  });
}

void main();
