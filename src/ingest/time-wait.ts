import { systemClock, type Clock, type Timer } from '../clock.js';

/**
 * Most model inputs that wait for their time at once. ffmpeg writes a frame's
 * time on stderr before its bytes, but the two pipes are read separately: after
 * the event loop was held up, a burst of frames may be read before the lines
 * written before them. A second or so of frames at the usual rates.
 */
const MOST_WAITING = 8;

/**
 * A camera's frames that came before ffmpeg's report of their time, waiting
 * for it, briefly and in order, so that each frame is sent once with its
 * place in the stream final. An arrival goes on (`ready`) as soon as its time
 * is known (`known`), or once a later frame's time came (ffmpeg reports in
 * order: its own will not come), or after `waitMs` (then the clock
 * estimates), or when more than a few wait (the oldest first).
 *
 * @example
 * const wait = new TimeWait((n) => clock.reported(n), 20, (a) => send(a));
 * wait.add({ n: 0 }); // no time yet: waits
 * clock.time(0, 8533);
 * wait.reported(0);   // frame 0 goes on
 */
export class TimeWait<A extends { readonly n: number }> {
  private readonly queue: Array<{ arrival: A; due: number }> = [];
  private timer: Timer | null = null;
  /** The waiting frame the timer is set for. */
  private timed: { arrival: A; due: number } | null = null;

  constructor(
    private readonly known: (n: number) => boolean,
    private readonly waitMs: number,
    private readonly ready: (arrival: A) => void,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Frame `arrival.n` came (frames come in order): it goes on now if its time is known and no frame waits before it. */
  add(arrival: A): void {
    this.queue.push({ arrival, due: this.clock.monotonic() + this.waitMs });
    while (this.queue.length > MOST_WAITING) this.next();
    this.drain(-1);
  }

  /** ffmpeg reported frame `n`'s time: the frames up to it go on. */
  reported(n: number): void {
    this.drain(n);
  }

  /** Every waiting frame goes on, oldest first (ffmpeg exited: no time comes any more). */
  flush(): void {
    while (this.queue.length > 0) this.next();
    this.disarm();
  }

  /** The waiting frames are not sent: returned to the caller, which gives back what they hold. */
  clear(): A[] {
    this.disarm();
    return this.queue.splice(0).map((w) => w.arrival);
  }

  /** Frames waiting (tests and diagnostics). */
  get size(): number {
    return this.queue.length;
  }

  private drain(upTo: number): void {
    for (let head = this.queue[0]; head && (head.arrival.n <= upTo || this.known(head.arrival.n)); head = this.queue[0]) this.next();
    this.arm();
  }

  private next(): void {
    const w = this.queue.shift();
    if (w) this.ready(w.arrival);
  }

  /** A timer for the oldest waiting frame's deadline; frames past theirs go on, in order. */
  private arm(): void {
    const head = this.queue[0];
    if (head === this.timed) return;
    this.disarm();
    if (!head) return;
    this.timed = head;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.timed = null;
      const now = this.clock.monotonic();
      while (this.queue.length > 0 && this.queue[0].due <= now) this.next();
      this.drain(-1);
    }, Math.max(0, head.due - this.clock.monotonic()));
  }

  private disarm(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timed = null;
  }
}
