import * as ort from 'onnxruntime-node';
import { errorMessage, LinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import { executionProviders, providerChains, type ProviderOptionsMap } from './providers.js';

// onnxruntime prints its own errors for every provider missing from the build; the
// fallback is logged once by us instead, and real failures still arrive as exceptions.
ort.env.logLevel = 'fatal';

export type ProviderName = 'tensorrt' | 'cuda' | 'cpu';

export interface SessionOptions {
  /** Execution providers in order of preference. */
  providers: readonly ProviderName[];
  /** Intra-op threads for the CPU provider; 0 = onnxruntime's default. */
  threads: number;
  /** Provider-specific options, by provider name, passed through as onnxruntime names them. */
  providerOptions?: ProviderOptionsMap;
  /**
   * false: only the whole `providers` chain is tried, no shorter one (a session
   * reopened on the provider a first one got must get that provider or fail).
   * Default true.
   */
  fallback?: boolean;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  /** The provider of the chain that opened: the first of the providers registered. */
  provider: ProviderName;
  /** Providers tried before the active one, with why they failed. */
  skipped: Array<{ provider: ProviderName; reason: string }>;
}

/** Logs once, at warn, that the active provider is not the first one configured (nothing when it is). */
export function reportFallback(log: Logger, provider: ProviderName, skipped: OpenedSession['skipped']): void {
  if (skipped.length > 0) log.warn({ stage: 'infer', provider, skipped }, `execution provider ${provider} active after ${skipped.length} fallback(s)`);
}

function sessionOptionsFor(chain: readonly ProviderName[], options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: executionProviders(chain, options.providerOptions),
    graphOptimizationLevel: 'all',
    // An accelerator missing from this build is expected on CPU boxes: we log the fallback ourselves.
    ...(chain[0] === 'cpu' ? {} : { logSeverityLevel: 4 as const }),
    ...(options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
  };
}

/**
 * Opens the model on the first provider chain that works (`providerChains`:
 * TensorRT with CUDA and the CPU behind it ▸ CUDA with the CPU ▸ the CPU).
 * onnxruntime-node does not fall back by itself: a chain with a provider
 * missing from the build rejects with "… Failed to load shared library", so
 * each chain gets its own attempt.
 */
export async function openSession(path: string, options: SessionOptions, log: Logger): Promise<OpenedSession> {
  const skipped: OpenedSession['skipped'] = [];
  const chains = options.fallback === false ? [[...options.providers]] : providerChains(options.providers);
  for (const chain of chains) {
    const provider = chain[0];
    try {
      const session = await ort.InferenceSession.create(path, sessionOptionsFor(chain, options));
      reportFallback(log, provider, skipped);
      return { session, provider, skipped };
    } catch (err) {
      const reason = errorMessage(err);
      skipped.push({ provider, reason });
      log.debug({ stage: 'infer', provider, chain, err: reason }, 'execution provider failed to load the model');
    }
  }
  const reasons = skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ');
  // When even the CPU provider fails, the model is at fault; otherwise the providers are.
  const cpuFailed = skipped.some((s) => s.provider === 'cpu');
  throw new LinesightError(cpuFailed ? 'E_MODEL_LOAD' : 'E_PROVIDER',
    `Expected one of the execution providers [${options.providers.join(', ')}] to load ${path}, but none did (${reasons})`,
    { details: { skipped } });
}
