import type { Clock, Timer } from '../../src/clock.js';

interface Pending {
  id: number;
  /** Monotonic time it fires at. */
  at: number;
  fn: () => void;
  /** Re-armed this many ms after it fires (an interval). */
  every?: number;
}

/**
 * A clock that moves only when the test says so. `advance` moves real time
 * (both readings; timers fire in time order on the way); `step` moves only the
 * wall clock, the way NTP does, and fires nothing.
 */
export class FakeClock implements Clock {
  private mono = 0;
  private wallOffset: number;
  private seq = 0;
  private timers: Pending[] = [];

  constructor(start: number | string) {
    this.wallOffset = typeof start === 'string' ? Date.parse(start) : start;
  }

  now(): number {
    return this.mono + this.wallOffset;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.arm(fn, ms);
  }

  clearTimeout(handle: Timer): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.arm(fn, ms, Math.max(1, ms));
  }

  clearInterval(handle: Timer): void {
    this.clearTimeout(handle);
  }

  /** Timers still armed. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves to wall time `to` (ms or ISO time), firing every timer due on the way, each at its own time. */
  advanceTo(to: number | string): void {
    const target = typeof to === 'string' ? Date.parse(to) : to;
    this.advance(target - this.now());
  }

  advance(ms: number): void {
    const target = this.mono + Math.max(0, ms);
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.mono = Math.max(this.mono, due.at);
      if (due.every === undefined) this.timers = this.timers.filter((t) => t !== due);
      else due.at += due.every;
      due.fn();
    }
    this.mono = target;
  }

  /**
   * `advance` for code that awaits between timers: lets pending promise
   * callbacks run before each timer and after the last, so a timer armed in a
   * `.then` is armed before its time comes.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.mono + Math.max(0, ms);
    const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
    await settle();
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.advance(due.at - this.mono);
      await settle();
    }
    this.mono = target;
  }

  /** The wall clock jumps by `ms` (negative: back), as an NTP step does; monotonic time and timers are untouched. */
  step(ms: number): void {
    this.wallOffset += ms;
  }

  private arm(fn: () => void, ms: number, every?: number): number {
    const timer = { id: ++this.seq, at: this.mono + Math.max(0, ms), fn, every };
    this.timers.push(timer);
    return timer.id;
  }
}
