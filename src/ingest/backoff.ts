/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential
 * Backoff and Jitter"): the n-th delay is uniform in [0, min(cap, base·2ⁿ)].
 * Jitter keeps many cameras that dropped together from reconnecting in lockstep.
 */
export class Backoff {
  private attempt = 0;

  constructor(private readonly baseMs: number, private readonly capMs: number, private readonly random: () => number = Math.random) {}

  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(this.random() * ceiling);
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
