import { availableParallelism } from 'node:os';
import type { Logger } from '../log.js';
import type { TensorInput } from '../preprocess/tensor.js';
import { reportFallback, type ProviderName, type SessionOptions } from './session.js';
import { WorkerPool, type PoolShape } from './worker-pool.js';
import type { RunOutput } from './worker-protocol.js';
import { startSessionWorker, stopWorker } from './worker-thread.js';

/**
 * The model's sessions behind the two calls the detector needs. The input
 * tensor is filled where the session runs (on a worker: off the event loop,
 * into that worker's own buffer), so the main thread hands over 0.3 MB of
 * uint8 per 320×320 frame instead of allocating and filling 1.2 MB of float32.
 */
export interface InferenceBackend {
  readonly provider: ProviderName;
  readonly skipped: ReadonlyArray<{ provider: ProviderName; reason: string }>;
  readonly outputNames: readonly string[];
  /** Sessions that run calls side by side (calls beyond that wait their turn). */
  readonly sessions: number;
  /**
   * Most frames a call should carry, when the sessions fix it: 1 for the CPU pool
   * of single-thread sessions, where batching saves no CPU and only lengthens calls.
   */
  readonly maxCallFrames?: number;
  /** Runs `images` (packed RGB24 at the input's size; grey 114 in the slots up to `batch`) as one batch. */
  run(input: TensorInput, images: readonly Uint8Array[], batch: number): Promise<RunOutput>;
  release(): Promise<void>;
}

/**
 * How many sessions, opened how, once the first session has found the provider.
 * `auto` on the CPU: one single-thread session per core (up to 4); on an
 * accelerator, one. The further and restarted sessions go straight to the
 * chain that worked (the provider and those configured after it), no fallback.
 */
export function poolPlan(provider: ProviderName, options: SessionOptions, sessions: number | 'auto'): PoolShape & { options: SessionOptions } {
  const cpuPool = sessions === 'auto' && provider === 'cpu';
  const count = sessions === 'auto' ? (cpuPool ? Math.max(1, Math.min(availableParallelism(), 4)) : 1) : sessions;
  const chain = options.providers.slice(Math.max(0, options.providers.indexOf(provider)));
  return {
    sessions: count,
    ...(cpuPool ? { maxCallFrames: 1 } : {}),
    options: { ...options, providers: chain, fallback: false, ...(cpuPool && options.threads === 0 ? { threads: 1 } : {}) },
  };
}

/**
 * The model on worker threads: `sessions` of them, each with its own copy of
 * the model (on the CPU, two single-thread sessions side by side do more than
 * one session with two threads, because the threads of one call wait for each
 * other: BENCHMARKS.md). The first session opens with the configured fallback
 * (E_MODEL_LOAD, E_PROVIDER when none works) and is reported once; the others
 * open on the provider it got. Faults and restarts: `SessionLane`.
 */
export async function openInWorker(path: string, options: SessionOptions, log: Logger, sessions: number | 'auto' = 1): Promise<WorkerPool> {
  const first = await startSessionWorker({ path, options });
  const { provider, skipped } = first.opened;
  reportFallback(log, provider, skipped); // the worker opened it with a silent logger
  const plan = poolPlan(provider, options, sessions);
  const pool = new WorkerPool({ path, options: plan.options }, first.opened, plan, log);
  // The first session was opened with onnxruntime's thread default to find the provider: a single-thread pool opens it again.
  if (plan.options.threads === options.threads) pool.adopt(first.worker);
  else await stopWorker(first.worker);
  await pool.start();
  return pool;
}
