import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { errorMessage, LinesightError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { openSession, reportFallback, type ProviderName, type SessionOptions } from './session.js';
import type { RunRequest, WorkerInit, WorkerReply } from './session-worker.js';

export type TensorData = Float32Array | Uint8Array;

export interface RunOutput {
  type: string;
  data: Float32Array;
  dims: number[];
}

/**
 * One onnxruntime session behind the two calls the detector needs. `run` may
 * take ownership of `data` (the worker backend transfers its buffer): do not
 * touch it after the call.
 */
export interface InferenceBackend {
  readonly provider: ProviderName;
  readonly skipped: ReadonlyArray<{ provider: ProviderName; reason: string }>;
  readonly outputNames: readonly string[];
  /** Where the session runs: `worker` (its own thread) or `main` (the event loop's thread). */
  readonly thread: 'worker' | 'main';
  run(input: string, type: 'float32' | 'uint8', data: TensorData, dims: number[]): Promise<RunOutput>;
  release(): Promise<void>;
}

/** The session on the calling thread: every run blocks the event loop for its duration. */
export async function openInProcess(path: string, options: SessionOptions, log: Logger): Promise<InferenceBackend> {
  const opened = await openSession(path, options, log);
  const { session } = opened;
  return {
    provider: opened.provider,
    skipped: opened.skipped,
    outputNames: session.outputNames,
    thread: 'main',
    async run(input, type, data, dims) {
      const results = await session.run({ [input]: new ort.Tensor(type, data, dims) });
      const out = results[session.outputNames[0]];
      return { type: out.type, data: out.data as Float32Array, dims: [...out.dims] };
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

interface Pending {
  resolve: (out: RunOutput) => void;
  reject: (err: Error) => void;
}

/**
 * The session on its own worker thread. Opening reports the same errors as
 * openInProcess (E_MODEL_LOAD, E_PROVIDER) with the same fallback. If the
 * thread dies (a native crash in a provider, say), the calls in flight fail,
 * the death is logged, and the next call starts a fresh worker on the provider
 * that was active: one lost batch, not a dead line.
 */
export async function openInWorker(path: string, options: SessionOptions, log: Logger): Promise<InferenceBackend> {
  const script = workerScript();
  let nextId = 0;
  const pending = new Map<number, Pending>();

  function spawn(opts: SessionOptions): Promise<{ worker: Worker; opened: Extract<WorkerReply, { opened: unknown }>['opened'] }> {
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
        } else {
          const p = pending.get(reply.id);
          pending.delete(reply.id);
          if (!p) return;
          if ('error' in reply) p.reject(new Error(reply.error));
          else p.resolve(reply.output);
        }
      });
      const died = (why: string) => {
        if (!open) {
          reject(new LinesightError('E_MODEL_LOAD', `Expected the inference worker to open ${path} but it ${why}`));
          return;
        }
        if (current?.worker === worker) current = null;
        if (closing) return;
        log.error({ stage: 'infer', code: 'E_MODEL_LOAD', pending: pending.size }, `the inference worker ${why}; its calls in flight fail and the next call starts a new one`);
        for (const [id, p] of pending) {
          pending.delete(id);
          p.reject(new LinesightError('E_MODEL_LOAD', `the inference worker ${why} during the call`));
        }
      };
      worker.on('error', (err) => died(`failed: ${errorMessage(err)}`));
      worker.on('exit', (code) => died(`exited with code ${code}`));
    });
  }

  let closing = false;
  let current: { worker: Worker } | null = null;
  const first = await spawn(options);
  current = first;
  const provider = first.opened.provider as ProviderName;
  const skipped = first.opened.skipped as Array<{ provider: ProviderName; reason: string }>;
  reportFallback(log, provider, skipped); // the worker opened it with a silent logger
  // A restarted worker goes straight to the provider that worked.
  const again: SessionOptions = { ...options, providers: [provider] };
  let restarting: Promise<{ worker: Worker }> | null = null;

  async function worker(): Promise<Worker> {
    if (current) return current.worker;
    restarting ??= spawn(again).then((w) => (current = w)).finally(() => (restarting = null));
    return (await restarting).worker;
  }

  return {
    provider,
    skipped,
    outputNames: first.opened.outputNames,
    thread: 'worker',
    async run(input, type, data, dims) {
      const w = await worker();
      const id = nextId++;
      return new Promise<RunOutput>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.postMessage({ id, input, type, data, dims } satisfies RunRequest, [data.buffer as ArrayBuffer]);
      });
    },
    async release() {
      closing = true;
      const w = current?.worker;
      current = null;
      if (!w) return;
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      w.postMessage({ release: true });
      const timer = setTimeout(() => void w.terminate(), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}
