import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { errorMessage, LinesightError } from '../errors.js';
import { fromWireError, type Opened, type WorkerInit, type WorkerReply } from './worker-protocol.js';
import { keepAlive, systemClock, type Clock } from '../clock.js';

/**
 * The compiled worker next to this module; when linesight runs from its
 * TypeScript sources (the test runner), the one in dist/ (built before tests).
 */
function workerScript(): URL {
  const here = new URL('./session-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL('../../dist/infer/session-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new LinesightError('E_MODEL_LOAD', `Expected the inference worker at ${fileURLToPath(here)} or ${fileURLToPath(built)} but neither exists (run "npm run build")`);
}

export interface StartedWorker {
  worker: Worker;
  opened: Opened;
}

/**
 * Starts a worker thread and waits until its session is open. Rejects with the
 * worker's own error (E_MODEL_LOAD, E_PROVIDER) when it cannot open the model,
 * or E_MODEL_LOAD when the thread dies first. The caller takes over the worker's
 * messages and its exit from then on.
 */
export function startSessionWorker(init: WorkerInit): Promise<StartedWorker> {
  const worker = new Worker(workerScript(), { workerData: init });
  // A worker must not keep the process alive: the pipeline's shutdown releases it.
  worker.unref();
  return new Promise((resolve, reject) => {
    const done = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (reply: WorkerReply) => {
      done();
      if ('opened' in reply) return resolve({ worker, opened: reply.opened });
      void worker.terminate();
      reject('failed' in reply ? fromWireError(reply.failed, 'E_MODEL_LOAD') : new LinesightError('E_MODEL_LOAD', 'Expected the inference worker to report its session but it replied to a call'));
    };
    const died = (why: string) => {
      done();
      reject(new LinesightError('E_MODEL_LOAD', `Expected the inference worker to open ${init.path} but it ${why}`));
    };
    const onError = (err: Error) => died(`failed: ${errorMessage(err)}`);
    const onExit = (code: number) => died(`exited with code ${code}`);
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/** Asks a worker to release its session and exit; terminates it if it has not after 2 s. */
export async function stopWorker(worker: Worker, clock: Clock = systemClock): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage({ release: true });
  // The worker is unref'd and the timer too: this wait is work, so it keeps the process alive itself.
  const release = keepAlive();
  const timer = clock.setTimeout(() => void worker.terminate(), 2000);
  await exited;
  clock.clearTimeout(timer);
  release();
}
