import { LinesightError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { isoTime, type Clock } from '../clock.js';
import { retryDelay } from '../backoff.js';
import { parseRetryAfter, sleep } from './backoff.js';
import type { Batch } from './batch.js';
import type { SyncTuning } from './types.js';
import { redactUrl } from '../config/url.js';

export interface HttpTarget {
  url: string;
  token?: string;
  fetchImpl: typeof fetch;
  clock: Clock;
  tuning: SyncTuning;
  random: () => number;
  log: Logger;
  userAgent: string;
  /** Called after every failed attempt, for the ledger. */
  onFailedAttempt(batch: Batch, reason: string): void;
}

export interface Delivered {
  /** The HTTP status that settled the batch: 2xx, or 409 when the cloud already had it. */
  answer: number;
  attempts: number;
}

type Attempt =
  | { kind: 'done'; status: number }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'fatal'; status: number; reason: string };

/**
 * POSTs one batch until the cloud takes it: 2xx, or 409 (it already has this
 * key). Network errors, timeouts, 408, 429 and 5xx are retried with full-jitter
 * backoff (or `Retry-After`, capped) up to `maxAttempts`; any other answer stops
 * at once. Either way the error is E_SYNC and the batch stays queued.
 */
export async function deliverHttp(batch: Batch, target: HttpTarget, signal: AbortSignal): Promise<Delivered> {
  const { tuning } = target;
  let lastReason: string;
  for (let attempt = 1; ; attempt++) {
    const result = await attemptOnce(batch, target, signal);
    if (result.kind === 'done') {
      if (attempt > 1) target.log.info({ key: batch.key, attempts: attempt, answer: result.status }, 'upload recovered; batch accepted');
      return { answer: result.status, attempts: attempt };
    }
    target.onFailedAttempt(batch, result.reason);
    if (result.kind === 'fatal') {
      throw new LinesightError('E_SYNC',
        `Expected ${redactUrl(target.url)} to accept batch ${describeBatch(batch)} with 2xx or 409 but it answered ${result.reason}${hint(result.status)}; ` +
        'not retried: the batch stays queued for the next run', { details: { key: batch.key, status: result.status } });
    }
    lastReason = result.reason;
    if (attempt >= tuning.maxAttempts) break;
    const delay = result.retryAfterMs !== undefined
      ? Math.min(result.retryAfterMs, tuning.retryAfterMaxMs)
      : retryDelay(attempt, tuning.backoffBaseMs, tuning.backoffMaxMs, target.random);
    const log = attempt === 1 ? target.log.warn.bind(target.log) : target.log.debug.bind(target.log);
    log({ code: 'E_SYNC', key: batch.key, attempt, delayMs: delay, reason: result.reason },
      `upload attempt ${attempt} failed (${result.reason}); retrying in ${delay} ms, at most ${tuning.maxAttempts} attempts`);
    await sleep(target.clock, delay, signal);
  }
  throw new LinesightError('E_SYNC',
    `Expected ${redactUrl(target.url)} to accept batch ${describeBatch(batch)} but ${tuning.maxAttempts} attempt(s) failed, the last with: ${lastReason}; ` +
    'the batch stays queued and the next run sends it again under the same key', { details: { key: batch.key } });
}

async function attemptOnce(batch: Batch, target: HttpTarget, signal: AbortSignal): Promise<Attempt> {
  const timeoutMs = target.tuning.requestTimeoutMs;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-encoding': 'gzip',
    'idempotency-key': batch.key,
    'user-agent': target.userAgent,
  };
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  let response: Response;
  try {
    response = await target.fetchImpl(target.url, {
      method: 'POST',
      headers,
      body: batch.body,
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    return { kind: 'retry', reason: networkReason(err, timeoutMs) };
  }
  const status = response.status;
  if ((status >= 200 && status < 300) || status === 409) {
    // The answer is in; the body does not matter, and a reset while reading it changes nothing.
    await response.body?.cancel().catch(() => undefined);
    return { kind: 'done', status };
  }
  const body = await snippet(response);
  const reason = `${status}${response.statusText ? ` ${response.statusText}` : ''}${body ? ` (${JSON.stringify(body)})` : ''}`;
  if (status === 408 || status === 429 || status >= 500) {
    return { kind: 'retry', reason, retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), target.clock.now()) };
  }
  const location = response.headers.get('location');
  return { kind: 'fatal', status, reason: location ? `${reason}, redirecting to ${location}` : reason };
}

/** The first 200 characters of an error body; a body that cannot be read is not worth a second failure. */
async function snippet(response: Response): Promise<string> {
  try {
    const text = (await response.text()).trim();
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return '';
  }
}

function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${errorMessage(cause)}${typeof code === 'string' && !cause.message.includes(code) ? ` (${code})` : ''}`;
  }
  return errorMessage(err);
}

function hint(status: number): string {
  if (status === 401 || status === 403) return '; check sync.token (env LINESIGHT_SYNC_TOKEN)';
  if (status === 413) return '; the endpoint refuses the batch size';
  if (status >= 300 && status < 400) return '; point sync.url at the final address';
  return '';
}

export function describeBatch(batch: Batch): string {
  return `${isoTime(batch.periodStart)}–${isoTime(batch.periodEnd)} (${batch.rowCount} records, key ${batch.key.slice(0, 12)}…)`;
}

