import { performance } from 'node:perf_hooks';

/**
 * The one source of time. Two readings, for two questions:
 * - `now()` is the wall clock (ms since epoch): what goes into payloads, which
 *   minute a frame counts in, when 02:00 is. NTP may step it either way.
 * - `monotonic()` only ever moves forward at the pace of real time: every
 *   duration (latency, timeouts, backoff, watchdog, rates) is a difference of two
 *   of its readings, so a step of the wall clock never makes one negative.
 * Timers run on monotonic time. Production uses `systemClock`; tests pass a
 * clock they advance (and step) by hand.
 */
export interface Clock {
  /** Wall clock, ms since epoch. */
  now(): number;
  /** ms since an arbitrary origin; never goes back, unaffected by wall-clock steps. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(handle: Timer): void;
  setInterval(fn: () => void, ms: number): Timer;
  clearInterval(handle: Timer): void;
}

/** A timer handle; only the clock that made it can clear it. */
export type Timer = unknown;

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    // A pending timer must never keep the process alive on its own: what keeps
    // a command alive while it waits says so explicitly (see keepAlive).
    return setTimeout(fn, ms).unref();
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout | undefined),
};

/**
 * Keeps the process alive until the returned function is called: for a
 * command whose only pending work is a timer (a retry, a backoff wait), which
 * Node would otherwise end as soon as the event loop looks idle.
 */
export function keepAlive(): () => void {
  const handle = setInterval(() => undefined, 60_000);
  return () => clearInterval(handle);
}

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

/** Start of the UTC minute containing `ts`. */
export function minuteOf(ts: number): number {
  return Math.floor(ts / MINUTE_MS) * MINUTE_MS;
}

/** Start of the UTC day containing `ts`. */
export function dayOf(ts: number): number {
  return Math.floor(ts / DAY_MS) * DAY_MS;
}

/** ISO 8601 UTC with milliseconds, the one time format of every payload. */
export function isoTime(ts: number): string {
  return new Date(ts).toISOString();
}
