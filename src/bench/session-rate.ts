/**
 * (2) The raw session rate: the model alone on the pipeline's own backend (its
 * worker threads, `model.sessions` of them), kept busy by as many callers as it
 * has sessions. Each call hands over letterbox-grey model inputs in shared
 * memory, as a letterboxing camera does, and the worker fills its tensor from
 * them, as in the pipeline. Warm-up calls are excluded; CPU is the whole
 * process's (worker threads included).
 */
import { openInWorker, type InferenceBackend } from '../infer/backend.js';
import { describeInput } from '../infer/model-shape.js';
import type { ProviderName } from '../infer/session.js';
import { silentLogger } from '../log.js';
import { LETTERBOX_PAD } from '../preprocess/letterbox.js';
import type { TensorInput } from '../preprocess/tensor.js';
import type { ModelInfo } from '../types.js';
import { percentiles, round } from './stats.js';
import type { SessionResult } from './report.js';

export interface SessionPoolOptions {
  modelPath: string;
  providers: readonly ProviderName[];
  info: ModelInfo;
  /** `model.threads`: intraOpNumThreads; 0 = onnxruntime's default. */
  threads: number;
  /** `model.sessions`: sessions side by side on worker threads, as the pipeline opens them. */
  sessions: number | 'auto';
}

/** The pipeline's session pool, opened once and measured at each batch size. */
export interface SessionPool {
  readonly provider: string;
  /** Sessions the pool opened (`auto` resolved). */
  readonly sessions: number;
  /** Most frames a call should carry, when the sessions fix it (see `framesPerCall`). */
  readonly maxCallFrames?: number;
  measure(batch: number, seconds: number, warmupCalls?: number): Promise<SessionResult>;
  release(): Promise<void>;
}

/** The model input as the detector fills it: layout and type read by the detector's own check. */
export function tensorInputOf(info: ModelInfo): TensorInput {
  const spec = describeInput({ name: info.inputName, shape: info.inputShape, elemType: info.inputType });
  return { name: info.inputName, type: spec.type, layout: spec.layout, width: info.inputWidth, height: info.inputHeight };
}

/** `batch` letterbox-grey RGB24 model inputs in shared memory, as a letterboxing camera's input pool holds them. */
function greyInputs(input: TensorInput, batch: number): Uint8Array[] {
  return Array.from({ length: batch }, () => new Uint8Array(new SharedArrayBuffer(input.width * input.height * 3)).fill(LETTERBOX_PAD));
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

function sessionResult(batch: number, threads: number, sessions: number, t: Timed): SessionResult {
  const frames = t.callMs.length * batch;
  return {
    batch,
    threads,
    sessions,
    calls: t.callMs.length,
    seconds: round(t.wallMs / 1000, 3),
    fps: round(frames / (t.wallMs / 1000)),
    callMs: percentiles(t.callMs),
    cpuMsPerFrame: round(t.cpuMs / frames, 3),
    cpuPct: round((t.cpuMs / t.wallMs) * 100, 1),
  };
}

async function measureBatch(backend: InferenceBackend, input: TensorInput, threads: number, batch: number, seconds: number, warmupCalls: number): Promise<SessionResult> {
  const images = greyInputs(input, batch);
  const call = () => backend.run(input, images, batch);
  await Promise.all(Array.from({ length: backend.sessions * warmupCalls }, call));
  return sessionResult(batch, threads, backend.sessions, await timeCalls(backend.sessions, seconds, call));
}

/**
 * Opens the model on worker threads exactly as the pipeline does (openInWorker),
 * for measuring its raw rate at each batch size the pipeline may use.
 */
export async function openSessionPool(options: SessionPoolOptions): Promise<SessionPool> {
  const backend = await openInWorker(options.modelPath, { providers: options.providers, threads: options.threads }, silentLogger(), options.sessions);
  const input = tensorInputOf(options.info);
  return {
    provider: backend.provider,
    sessions: backend.sessions,
    ...(backend.maxCallFrames === undefined ? {} : { maxCallFrames: backend.maxCallFrames }),
    measure: (batch, seconds, warmupCalls = 3) => measureBatch(backend, input, options.threads, batch, seconds, warmupCalls),
    release: () => backend.release(),
  };
}
