import type { Clock } from '../clock.js';

/** Alerts whose capture moment is remembered: more than ever wait for a PUBACK in a healthy line. */
const KEPT = 10_000;

/**
 * When each alert of this run was captured, on the monotonic clock, so that
 * capture → publish and capture → PUBACK are durations a wall-clock step
 * cannot bend (or make negative). An alert from before a restart (replayed
 * from the outbox) has only its wall-clock `ts`: its latency is the wall-clock
 * difference, floored at 0.
 */
export class CaptureTimes {
  private readonly mono = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  /** Alert `id` was captured at monotonic time `captureMono`. */
  note(id: string, captureMono: number): void {
    this.mono.set(id, captureMono);
    if (this.mono.size > KEPT) this.mono.delete(this.mono.keys().next().value as string);
  }

  /** ms from the capture of alert `id` (wall clock `ts`) to now. */
  since(id: string, ts: number): number {
    const mono = this.mono.get(id);
    return Math.max(0, mono === undefined ? this.clock.now() - ts : this.clock.monotonic() - mono);
  }

  /** The alert is delivered: its capture time is no longer needed. */
  forget(id: string): void {
    this.mono.delete(id);
  }
}
