/**
 * Time as the statistics and the upload see it. Production uses the wall clock;
 * tests pass a clock they advance by hand, so a minute rollover or a 02:00 run
 * happens when the test says so, not when the machine does.
 */
export interface Clock {
  /** ms since epoch */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    // A pending flush or a nightly run must never keep the process alive on its own.
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

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
