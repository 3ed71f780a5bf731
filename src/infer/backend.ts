import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { errorMessage, LinesightError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { openSession, reportFallback, type ProviderName, type SessionOptions } from './session.js';
import { TensorStore, tensorDims, type TensorData, type TensorInput } from '../preprocess/tensor.js';
import type { RunRequest, WorkerInit, WorkerReply } from './session-worker.js';

/**
 * What one call feeds the session: images (packed RGB24 at the input's size)
 * that the backend writes into a tensor of its own, kept between calls; or a
 * tensor ready made (the bench's raw session rate), which the call may take
 * ownership of (the worker backend transfers its buffer): do not touch it after.
 */
export type Feed = { images: readonly Uint8Array[]; batch: number } | { tensor: TensorData; batch: number };

export interface RunOutput {
  type: string;
  data: Float32Array;
  dims: number[];
}

/**
 * One onnxruntime session behind the two calls the detector needs. The input
 * tensor is filled where the session runs (on a worker: off the event loop,
 * into that worker's own buffer), so the main thread hands over 0.3 MB of
 * uint8 per 320×320 frame instead of allocating and filling 1.2 MB of float32.
 */
export interface InferenceBackend {
  readonly provider: ProviderName;
  readonly skipped: ReadonlyArray<{ provider: ProviderName; reason: string }>;
  readonly outputNames: readonly string[];
  /** Where the session runs: `worker` (its own thread) or `main` (the event loop's thread). */
  readonly thread: 'worker' | 'main';
  /** Sessions that run calls side by side (calls beyond that wait their turn). */
  readonly sessions: number;
  /**
   * Most frames a call should carry, when the sessions fix it: 1 for the CPU pool
   * of single-thread sessions, where batching saves no CPU and only lengthens calls.
   */
  readonly maxCallFrames?: number;
  run(input: TensorInput, feed: Feed): Promise<RunOutput>;
  release(): Promise<void>;
}

/** The session on the calling thread: every run blocks the event loop for its duration. */
export async function openInProcess(path: string, options: SessionOptions, log: Logger): Promise<InferenceBackend> {
  const opened = await openSession(path, options, log);
  const { session } = opened;
  const tensors = new TensorStore();
  return {
    provider: opened.provider,
    skipped: opened.skipped,
    outputNames: session.outputNames,
    thread: 'main',
    sessions: 1,
    async run(input, feed) {
      const data = 'tensor' in feed ? feed.tensor : tensors.fill(input, feed.images, feed.batch);
      try {
        const results = await session.run({ [input.name]: new ort.Tensor(input.type, data, tensorDims(input, feed.batch)) });
        const out = results[session.outputNames[0]];
        return { type: out.type, data: out.data as Float32Array, dims: [...out.dims] };
      } finally {
        if (!('tensor' in feed)) tensors.giveBack(data, feed.batch);
      }
    },
    release: () => session.release(),
  };
}

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

/** Asks a worker to release its session and exit; terminates it if it has not after 2 s. */
async function stopWorker(w: Worker): Promise<void> {
  const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
  w.postMessage({ release: true });
  const timer = setTimeout(() => void w.terminate(), 2000);
  await exited;
  clearTimeout(timer);
}

/**
 * The live worker threads of a worker backend, under this key: for fault
 * injection in tests (terminating one is how a crashed thread looks to the pool).
 */
export const WORKERS = Symbol.for('linesight.inference.workers');

export type WorkerBackend = InferenceBackend & { [WORKERS]: () => Worker[] };

/** Wait before a worker that failed to start is started again. */
const RESTART_BACKOFF_MS = 5000;

interface Call {
  request: Omit<RunRequest, 'id'>;
  resolve: (out: RunOutput) => void;
  reject: (err: Error) => void;
}

/** One session's worker thread and the call it is running (one at a time). */
interface Lane {
  worker: Worker | null;
  opening: Promise<void> | null;
  /** A failed (re)start is not retried before this time (ms epoch). */
  retryAt: number;
  /** When this lane's worker last died (ms epoch; 0: never). */
  diedAt: number;
  call: { id: number; resolve: (out: RunOutput) => void; reject: (err: Error) => void } | null;
}

/** A worker that dies again within this long of the last death is not replaced at once, but after RESTART_BACKOFF_MS. */
const REPEATED_DEATH_MS = 60_000;

/**
 * The session on worker threads: `sessions` of them, each with its own copy of
 * the model (on the CPU, two single-thread sessions side by side do more than
 * one session with two threads, because the threads of one call wait for each
 * other: BENCHMARKS.md). A call goes to the first idle session, or waits in
 * order for one. Opening reports the same errors as openInProcess
 * (E_MODEL_LOAD, E_PROVIDER) with the same fallback; the further sessions open
 * on the provider the first one got. If a thread dies (an uncaught error in
 * it, or running out of memory; a native crash takes the whole process, which
 * systemd restarts), its call fails, the death is logged, and the lane opens a
 * fresh worker on the same provider at once: one lost batch, not a dead line.
 * A lane whose worker dies again within REPEATED_DEATH_MS (a call that kills
 * every worker it meets) waits RESTART_BACKOFF_MS before the next, so a crash
 * loop does not reload the model back to back. A worker that fails to start
 * is tried again after RESTART_BACKOFF_MS while the others carry on; with none
 * running, waiting calls fail instead of piling up.
 */
export async function openInWorker(path: string, options: SessionOptions, log: Logger, sessions: number | 'auto' = 1): Promise<WorkerBackend> {
  const script = workerScript();
  let lastFailure = 'not started';
  let nextId = 0;
  let closing = false;
  const queue: Call[] = [];

  function spawn(opts: SessionOptions, lane?: Lane): Promise<{ worker: Worker; opened: Extract<WorkerReply, { opened: unknown }>['opened'] }> {
    const worker = new Worker(script, { workerData: { path, options: opts } satisfies WorkerInit });
    worker.unref();
    return new Promise((resolve, reject) => {
      let open = false;
      worker.on('message', (reply: WorkerReply) => {
        if ('opened' in reply) {
          open = true;
          resolve({ worker, opened: reply.opened });
        } else if ('failed' in reply) {
          void worker.terminate();
          reject(new LinesightError(reply.failed.code as ErrorCode, reply.failed.message, { details: reply.failed.details as Record<string, unknown> | undefined }));
        } else if (lane) finish(lane, reply);
      });
      const died = (why: string) => {
        if (!open) {
          reject(new LinesightError('E_MODEL_LOAD', `Expected the inference worker to open ${path} but it ${why}`));
          return;
        }
        if (!lane || lane.worker !== worker) return;
        lane.worker = null;
        lastFailure = `a worker ${why}`;
        const call = lane.call;
        lane.call = null;
        if (closing) return;
        const now = Date.now();
        const again = lane.diedAt > 0 && now - lane.diedAt < REPEATED_DEATH_MS;
        lane.diedAt = now;
        call?.reject(new LinesightError('E_MODEL_LOAD', `the inference worker ${why} during the call`));
        if (again) {
          log.error({ stage: 'infer', code: 'E_MODEL_LOAD', inFlight: call ? 1 : 0, retry_ms: RESTART_BACKOFF_MS },
            `an inference worker ${why}, the second time within ${REPEATED_DEATH_MS / 1000} s in this lane; its call fails and a new one opens in ${RESTART_BACKOFF_MS / 1000} s`);
          lane.retryAt = now + RESTART_BACKOFF_MS;
          setTimeout(() => {
            if (!closing && !lane.worker) void openLane(lane);
          }, RESTART_BACKOFF_MS).unref();
        } else {
          log.error({ stage: 'infer', code: 'E_MODEL_LOAD', inFlight: call ? 1 : 0 }, `an inference worker ${why}; its call fails and a new one takes its place`);
          void openLane(lane); // now, not when the next call comes: that call should not wait for a session to load
        }
        dispatch();
      };
      worker.on('error', (err) => died(`failed: ${errorMessage(err)}`));
      worker.on('exit', (code) => died(`exited with code ${code}`));
    });
  }

  const firstLane: Lane = { worker: null, opening: null, retryAt: 0, diedAt: 0, call: null };
  const first = await spawn(options, firstLane);
  firstLane.worker = first.worker;
  const provider = first.opened.provider as ProviderName;
  const skipped = first.opened.skipped as Array<{ provider: ProviderName; reason: string }>;
  reportFallback(log, provider, skipped); // the worker opened it with a silent logger
  // `auto` on the CPU: one single-thread session per core (up to 4); on an accelerator, one.
  const cpuPool = sessions === 'auto' && provider === 'cpu';
  const count = sessions === 'auto' ? (cpuPool ? Math.max(1, Math.min(availableParallelism(), 4)) : 1) : sessions;
  // Further and restarted workers go straight to the provider that worked.
  const again: SessionOptions = { ...options, providers: [provider], ...(cpuPool && options.threads === 0 ? { threads: 1 } : {}) };
  const lanes: Lane[] = [firstLane];
  if (again.threads !== options.threads) {
    // The first session was opened to find the provider, with onnxruntime's thread default: open it again single-threaded.
    firstLane.worker = null;
    await stopWorker(first.worker);
    await openLane(firstLane);
  }

  function openLane(lane: Lane): Promise<void> {
    lane.opening ??= spawn(again, lane).then(
      ({ worker }) => {
        lane.worker = worker;
        if (closing) void worker.terminate();
      },
      (err) => {
        lastFailure = errorMessage(err);
        lane.retryAt = Date.now() + RESTART_BACKOFF_MS;
        setTimeout(dispatch, RESTART_BACKOFF_MS).unref();
        log.error({ stage: 'infer', err: lastFailure, retry_ms: RESTART_BACKOFF_MS }, 'an inference worker failed to open; the others carry on and it is tried again');
      },
    ).finally(() => {
      lane.opening = null;
      dispatch();
    });
    return lane.opening;
  }

  for (let i = 1; i < count; i++) lanes.push({ worker: null, opening: null, retryAt: 0, diedAt: 0, call: null });
  await Promise.all(lanes.slice(1).map(openLane));
  if (!lanes.some((l) => l.worker)) throw new LinesightError('E_MODEL_LOAD', `Expected an inference worker to open ${path} on ${provider} but none did`);

  function finish(lane: Lane, reply: Exclude<WorkerReply, { opened: unknown } | { failed: unknown }>): void {
    const call = lane.call;
    if (!call || call.id !== reply.id) return;
    lane.call = null;
    if ('error' in reply) call.reject(new Error(reply.error));
    else call.resolve(reply.output);
    dispatch();
  }

  function dispatch(): void {
    for (const lane of lanes) {
      if (queue.length === 0) return;
      if (lane.call) continue;
      if (!lane.worker) {
        if (!closing && Date.now() >= lane.retryAt) void openLane(lane);
        continue;
      }
      const next = queue.shift() as Call;
      const id = nextId++;
      lane.call = { id, resolve: next.resolve, reject: next.reject };
      // A ready tensor is transferred. Images in shared memory (a letterboxing camera's InputPool) are shared, others copied.
      const { tensor } = next.request;
      lane.worker.postMessage({ id, ...next.request } satisfies RunRequest, tensor ? [tensor.buffer as ArrayBuffer] : []);
    }
    // No session running and none starting: fail the waiting calls rather than hold them.
    if (queue.length > 0 && lanes.every((l) => !l.worker && !l.opening)) {
      for (const call of queue.splice(0)) call.reject(new LinesightError('E_MODEL_LOAD', `no inference worker is running (${lastFailure})`));
    }
  }

  return {
    [WORKERS]: () => lanes.map((l) => l.worker).filter((w): w is Worker => w !== null),
    provider,
    skipped,
    outputNames: first.opened.outputNames,
    thread: 'worker',
    sessions: lanes.length,
    ...(cpuPool ? { maxCallFrames: 1 } : {}),
    run(input, feed) {
      return new Promise<RunOutput>((resolve, reject) => {
        if (closing) {
          reject(new LinesightError('E_MODEL_LOAD', 'the inference workers are closing'));
          return;
        }
        const request = 'tensor' in feed ? { input, tensor: feed.tensor, batch: feed.batch } : { input, images: [...feed.images], batch: feed.batch };
        queue.push({ request, resolve, reject });
        dispatch();
      });
    },
    async release() {
      closing = true;
      for (const call of queue.splice(0)) call.reject(new LinesightError('E_MODEL_LOAD', 'the inference workers were released'));
      await Promise.all(lanes.map(async (lane) => {
        await lane.opening;
        const w = lane.worker;
        lane.worker = null;
        if (w) await stopWorker(w);
      }));
    },
  };
}
