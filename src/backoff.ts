/**
 * The one retry delay of linesight: exponential backoff with full jitter (AWS
 * Architecture Blog, "Exponential Backoff and Jitter"). The wait after the n-th
 * consecutive failure (n from 1) is uniform in [0, min(cap, base·2ⁿ⁻¹)]. Jitter
 * keeps many cameras that dropped together, or a fleet of boxes whose uplink
 * came back together, from retrying in lockstep.
 *
 * Cameras (ffmpeg restarts), the MQTT client (reconnects) and the nightly
 * upload (HTTP retries) all wait through this function.
 *
 * @example
 * retryDelay(1, 1000, 30_000); // somewhere in [0, 1000] ms
 * retryDelay(6, 1000, 30_000); // somewhere in [0, 30000] ms
 */
export function retryDelay(failures: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(0, failures - 1), 30));
  return Math.round(random() * ceiling);
}

/** Counts consecutive failures and hands out the next `retryDelay`; `reset()` after a success. */
export class Backoff {
  private failures = 0;

  constructor(private readonly baseMs: number, private readonly capMs: number, private readonly random: () => number = Math.random) {}

  /** The wait before the next attempt, counting one more failure. */
  next(): number {
    this.failures++;
    return retryDelay(this.failures, this.baseMs, this.capMs, this.random);
  }

  /** Consecutive failures so far. */
  get attempts(): number {
    return this.failures;
  }

  reset(): void {
    this.failures = 0;
  }
}
