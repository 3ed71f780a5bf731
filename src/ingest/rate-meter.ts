import { performance } from 'node:perf_hooks';

/** Events per second over a sliding window (the true camera fps, not the configured one). */
export class RateMeter {
  private readonly stamps: number[] = [];

  /** `now` reads a monotonic clock (ms): a rate is a duration, and a wall-clock step must not bend it. */
  constructor(private readonly windowMs: number, private readonly now: () => number = () => performance.now()) {}

  tick(at = this.now()): void {
    this.stamps.push(at);
    this.trim(at);
  }

  perSecond(): number {
    this.trim(this.now());
    const n = this.stamps.length;
    if (n < 2) return 0;
    const span = this.stamps[n - 1] - this.stamps[0];
    return span > 0 ? Math.round(((n - 1) * 1000 * 100) / span) / 100 : 0;
  }

  private trim(now: number): void {
    while (this.stamps.length > 0 && now - this.stamps[0] > this.windowMs) this.stamps.shift();
  }
}
