/**
 * The inference worker: owns one onnxruntime session on a worker thread.
 *
 * onnxruntime-node runs `session.run` synchronously on the calling thread (its
 * `run` is a `setImmediate` around the native call), so a session on the main
 * thread would block the event loop that reads the cameras' pipes and answers
 * the broker for the whole call. Here the main thread only hands over the
 * letterboxed images (uint8: shared when they are in shared memory, as
 * ffmpeg-letterboxed inputs are, copied otherwise); this thread writes them
 * into its own input tensor, kept between calls (one call at a time per
 * worker), and sends the output back transferred. It reads the images before
 * it replies, and the camera reuses a shared buffer only after the reply
 * (`InputPool`). Messages: worker-protocol.ts.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { LinesightError } from '../errors.js';
import { silentLogger } from '../log.js';
import { TensorStore, tensorDims, type TensorData } from '../preprocess/tensor.js';
import { openSession } from './session.js';
import { toWireError, type RunRequest, type WorkerInit, type WorkerReply } from './worker-protocol.js';

async function open(port: MessagePort, init: WorkerInit): Promise<ort.InferenceSession | null> {
  try {
    const { session, provider, skipped } = await openSession(init.path, init.options, silentLogger()); // the main thread logs the fallback
    port.postMessage({ opened: { provider, skipped, outputNames: [...session.outputNames] } } satisfies WorkerReply);
    return session;
  } catch (err) {
    port.postMessage({ failed: toWireError(err, 'E_MODEL_LOAD') } satisfies WorkerReply);
    return null;
  }
}

/** Runs one request and replies: the output, or the error with its code (a wrong-size image: E_FRAME_SIZE; onnxruntime's own: E_INFERENCE). */
async function run(port: MessagePort, session: ort.InferenceSession, tensors: TensorStore, m: RunRequest): Promise<void> {
  let filled: TensorData | undefined;
  try {
    filled = tensors.fill(m.input, m.images, m.batch);
    const results = await session.run({ [m.input.name]: new ort.Tensor(m.input.type, filled, tensorDims(m.input, m.batch)) });
    const out = results[session.outputNames[0]];
    // The output may be a view on memory onnxruntime reuses: send our own copy, transferred.
    const copy = (out.data as Float32Array).slice();
    port.postMessage({ id: m.id, output: { type: out.type, data: copy, dims: [...out.dims] } } satisfies WorkerReply, [copy.buffer]);
  } catch (err) {
    port.postMessage({ id: m.id, error: toWireError(err, 'E_INFERENCE') } satisfies WorkerReply);
  } finally {
    if (filled) tensors.giveBack(filled, m.batch);
  }
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new LinesightError('E_MODEL_LOAD', 'Expected session-worker.js to run as a worker thread but it runs on the main thread');
  const session = await open(port, workerData as WorkerInit);
  if (!session) return;
  const tensors = new TensorStore();
  port.on('message', async (m: RunRequest | { release: true }) => {
    if ('release' in m) {
      await session.release();
      port.close();
      return;
    }
    await run(port, session, tensors, m);
  });
}

void main();
