import * as ort from 'onnxruntime-node';
import { errorMessage, LinesightError } from '../errors.js';
import type { Logger } from '../log.js';

// onnxruntime prints its own errors for every provider missing from the build; the
// fallback is logged once by us instead, and real failures still arrive as exceptions.
ort.env.logLevel = 'fatal';

export type ProviderName = 'tensorrt' | 'cuda' | 'cpu';

export interface SessionOptions {
  providers: readonly ProviderName[];
  /** Intra-op threads for the CPU provider; 0 = onnxruntime's default. */
  threads: number;
  /** Provider-specific options, by provider name, passed through as onnxruntime names them. */
  providerOptions?: Partial<Record<ProviderName, Record<string, unknown>>>;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  provider: ProviderName;
  /** Providers tried before the active one, with why they failed. */
  skipped: Array<{ provider: ProviderName; reason: string }>;
}

/** Logs once, at warn, that the active provider is not the first one configured (nothing when it is). */
export function reportFallback(log: Logger, provider: ProviderName, skipped: OpenedSession['skipped']): void {
  if (skipped.length > 0) log.warn({ stage: 'infer', provider, skipped }, `execution provider ${provider} active after ${skipped.length} fallback(s)`);
}

/**
 * Opens the model with the first execution provider that works, in the configured
 * order (e.g. TensorRT ▸ CUDA ▸ CPU). onnxruntime-node does not fall back by
 * itself: an EP missing from the build rejects with "… is unsupported", so each
 * provider gets its own attempt.
 */
export async function openSession(path: string, options: SessionOptions, log: Logger): Promise<OpenedSession> {
  const skipped: OpenedSession['skipped'] = [];
  for (const provider of options.providers) {
    const ep = { name: provider, ...(options.providerOptions?.[provider] ?? {}) } as ort.InferenceSession.ExecutionProviderConfig;
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [ep],
      graphOptimizationLevel: 'all',
      // An accelerator missing from this build is expected on CPU boxes: we log the fallback ourselves.
      ...(provider === 'cpu' ? {} : { logSeverityLevel: 4 as const }),
      ...(options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
    };
    try {
      const session = await ort.InferenceSession.create(path, sessionOptions);
      reportFallback(log, provider, skipped);
      return { session, provider, skipped };
    } catch (err) {
      const reason = errorMessage(err);
      skipped.push({ provider, reason });
      log.debug({ stage: 'infer', provider, err: reason }, 'execution provider failed to load the model');
    }
  }
  const reasons = skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ');
  // When even the CPU provider fails, the model is at fault; otherwise the providers are.
  const cpuFailed = skipped.some((s) => s.provider === 'cpu');
  throw new LinesightError(cpuFailed ? 'E_MODEL_LOAD' : 'E_PROVIDER',
    `Expected one of the execution providers [${options.providers.join(', ')}] to load ${path}, but none did (${reasons})`,
    { details: { skipped } });
}
