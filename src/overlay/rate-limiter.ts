/**
 * A token bucket that lets at most `perSecond` events through on average.
 * Capacity 2 absorbs arrival jitter: a 10 fps camera throttled to 8 fps passes
 * 8 of every 10 frames instead of falling to 5 when a frame comes 1 ms early.
 * Refused events are dropped by the caller, never queued.
 */
export class RateLimiter {
  private tokens: number;
  private last: number | null = null;

  constructor(private readonly perSecond: number, private readonly capacity = 2) {
    if (!(perSecond > 0)) throw new RangeError(`Expected a positive rate but received ${String(perSecond)}`);
    this.tokens = 1;
  }

  /** True when an event at `now` (ms) may pass; consumes one token then. */
  take(now: number): boolean {
    if (this.last !== null) {
      const elapsed = Math.max(0, now - this.last);
      this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.perSecond) / 1000);
    }
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
