/**
 * (2) The raw session rate: the model alone on the pipeline's provider, one
 * pre-filled input tensor reused for every call, warm-up calls excluded.
 */
import * as ort from 'onnxruntime-node';
import { LinesightError, describeValue } from '../errors.js';
import { openInWorker } from '../infer/backend.js';
import { describeInput } from '../infer/model-shape.js';
import { fillTensor, tensorDims, type TensorInput } from '../preprocess/tensor.js';
import { openSession, type ProviderName } from '../infer/session.js';
import { silentLogger } from '../log.js';
import type { ModelInfo } from '../types.js';
import { percentiles, round } from './stats.js';
import type { SessionResult } from './report.js';

/** Session option variants tried by `--sweep`; `default` is the pipeline's own (src/infer/session.ts). */
export const SESSION_VARIANTS: Record<string, Partial<ort.InferenceSession.SessionOptions>> = {
  default: {},
  'no-spinning': { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } },
  'no-mem-pattern': { enableMemPattern: false },
  'no-arena': { enableCpuMemArena: false },
  'opt-basic': { graphOptimizationLevel: 'basic' },
};

type CreateSession = (model: unknown, options?: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;

/**
 * Experiment (`--session-variant`): every session this process opens from here on,
 * the pipeline's included, gets a SESSION_VARIANTS entry merged into its options,
 * so the effect of a session option on the whole pipeline is measured before
 * src/infer/session.ts adopts it. Returns the undo.
 */
export function forceSessionVariant(variant: string): () => void {
  const extra = SESSION_VARIANTS[variant];
  if (!extra) {
    throw new LinesightError('E_CLI', `Expected one of ${Object.keys(SESSION_VARIANTS).join(', ')} for --session-variant but received ${describeValue(variant)}`);
  }
  const Session = ort.InferenceSession as unknown as { create: CreateSession };
  const original = Session.create;
  Session.create = (model, options) => original.call(ort.InferenceSession, model, { ...options, ...extra });
  return () => {
    Session.create = original;
  };
}

export interface SessionBenchOptions {
  modelPath: string;
  providers: readonly ProviderName[];
  info: ModelInfo;
  batch: number;
  /** intraOpNumThreads; 0 = onnxruntime's default (one per core). */
  threads: number;
  seconds: number;
  variant?: string;
  warmupCalls?: number;
}

async function open(options: SessionBenchOptions): Promise<ort.InferenceSession> {
  const variant = options.variant ?? 'default';
  if (variant === 'default') {
    // The very code path the pipeline uses, so provider and options match.
    return (await openSession(options.modelPath, { providers: options.providers, threads: options.threads }, silentLogger())).session;
  }
  return ort.InferenceSession.create(options.modelPath, {
    executionProviders: [{ name: 'cpu' }],
    graphOptimizationLevel: 'all',
    ...(options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
    ...SESSION_VARIANTS[variant],
  });
}

/** The model input as the detector fills it: layout and type read by the detector's own check. */
export function tensorInputOf(info: ModelInfo): TensorInput {
  const spec = describeInput({ name: info.inputName, shape: info.inputShape, elemType: info.inputType });
  return { name: info.inputName, type: spec.type, layout: spec.layout, width: info.inputWidth, height: info.inputHeight };
}

/** A batch of letterbox-grey images in the model's layout and type. */
function greyTensor(input: TensorInput, batch: number): ort.Tensor {
  return new ort.Tensor(input.type, fillTensor(input, [], batch), tensorDims(input, batch));
}

interface Timed {
  callMs: number[];
  wallMs: number;
  cpuMs: number;
}

/** Runs `call` back to back from `callers` loops for `seconds` (at least 3 calls), timing each call and the process's CPU (all threads). */
async function timeCalls(callers: number, seconds: number, call: () => Promise<unknown>): Promise<Timed> {
  const callMs: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  let end = t0;
  await Promise.all(Array.from({ length: callers }, async () => {
    while (performance.now() < until || callMs.length < 3) {
      const s = performance.now();
      await call();
      end = performance.now();
      callMs.push(end - s);
    }
  }));
  const cpu = process.cpuUsage(cpu0);
  return { callMs, wallMs: end - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function sessionResult(batch: number, threads: number, sessions: number, variant: string, t: Timed): SessionResult {
  const frames = t.callMs.length * batch;
  return {
    batch,
    threads,
    sessions,
    variant,
    calls: t.callMs.length,
    seconds: round(t.wallMs / 1000, 3),
    fps: round(frames / (t.wallMs / 1000)),
    callMs: percentiles(t.callMs),
    cpuMsPerFrame: round(t.cpuMs / frames, 3),
    cpuPct: round((t.cpuMs / t.wallMs) * 100, 1),
  };
}

export async function measureSession(options: SessionBenchOptions): Promise<SessionResult> {
  const session = await open(options);
  try {
    const feeds = { [options.info.inputName]: greyTensor(tensorInputOf(options.info), options.batch) };
    for (let i = 0; i < (options.warmupCalls ?? 3); i++) await session.run(feeds);
    const timed = await timeCalls(1, options.seconds, () => session.run(feeds));
    return sessionResult(options.batch, options.threads, 1, options.variant ?? 'default', timed);
  } finally {
    await session.release();
  }
}

export interface PoolBenchOptions extends Omit<SessionBenchOptions, 'variant'> {
  /** `model.sessions`: sessions side by side on worker threads, as the pipeline opens them. */
  sessions: number | 'auto';
}

/**
 * (2) for a session on worker threads: the pipeline's own backend (openInWorker),
 * kept busy by as many callers as it has sessions, each handing over a fresh
 * input buffer per call as the detector does. CPU is the whole process's
 * (worker threads included).
 */
export async function measureSessionPool(options: PoolBenchOptions): Promise<SessionResult> {
  const backend = await openInWorker(options.modelPath, { providers: options.providers, threads: options.threads }, silentLogger(), options.sessions);
  try {
    const input = tensorInputOf(options.info);
    const template = fillTensor(input, [], options.batch);
    // A ready tensor per call: the raw session, without the tensor fill the pipeline adds (measured in preprocess).
    const call = () => backend.run(input, { tensor: template.slice(), batch: options.batch });
    await Promise.all(Array.from({ length: backend.sessions * (options.warmupCalls ?? 3) }, call));
    const timed = await timeCalls(backend.sessions, options.seconds, call);
    return sessionResult(options.batch, options.threads, backend.sessions, 'default', timed);
  } finally {
    await backend.release();
  }
}
