const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/**
 * At most `perMinute` pictures in any 60 s and `perHour` in any hour (sliding
 * windows over the times of the pictures taken). 0 allows none.
 *
 * @example
 * const limit = new RateLimit(2, 30);
 * if (limit.take(clock.monotonic())) keep(frame);
 */
export class RateLimit {
  /** Times of the pictures taken within the last hour, oldest first. */
  private readonly taken: number[] = [];

  constructor(readonly perMinute: number, readonly perHour: number) {}

  /** Whether one more picture would be within both limits at `now` (ms). */
  allows(now: number): boolean {
    while (this.taken.length > 0 && this.taken[0] <= now - HOUR_MS) this.taken.shift();
    if (this.taken.length >= this.perHour) return false;
    let lastMinute = 0;
    for (let i = this.taken.length - 1; i >= 0 && this.taken[i] > now - MINUTE_MS; i--) lastMinute++;
    return lastMinute < this.perMinute;
  }

  /** Takes one picture at `now` when the limits allow it; true when taken. */
  take(now: number): boolean {
    if (!this.allows(now)) return false;
    this.taken.push(now);
    return true;
  }
}
