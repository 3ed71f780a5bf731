import type { Frame } from '../types.js';

/** Where flow control sends frames, and how it stops and restarts the decoder's output. */
export interface FlowOutlet {
  /** Hand the frame to the consumer. */
  send(frame: Frame): void;
  /** A held frame was replaced by a newer one before the consumer took it (counted and released by the camera). */
  supersede(frame: Frame): void;
  /** Stop reading the decoder: it blocks on its next write. */
  pause(): void;
  resume(): void;
}

/**
 * For a file replayed as fast as possible (`realtime: false`): once a frame
 * waits for the consumer, the next one is held behind it and the decoder is
 * no longer read until the consumer takes the waiting frame (`taken`). ffmpeg
 * then blocks on its pipe instead of decoding frames that would be dropped as
 * superseded. Live cameras are never held back (`enabled` false): their old
 * frames must be dropped, not queued.
 *
 * @example
 * const flow = new FlowControl(true, outlet);
 * flow.offer(a); // sent: nothing was waiting
 * flow.offer(b); // held, the decoder paused
 * flow.taken();  // the consumer took a: b is sent, the decoder read again
 */
export class FlowControl {
  /** A frame was sent and the consumer has not taken it yet. */
  private waiting = false;
  /** The frame decoded behind the waiting one. */
  private held: Frame | null = null;
  private paused = false;

  constructor(readonly enabled: boolean, private readonly outlet: FlowOutlet) {}

  /** A new frame: sent when nothing waits (returns true), else held in place of an older held one, and the decoder paused (false). */
  offer(frame: Frame): boolean {
    if (!this.enabled) {
      this.outlet.send(frame);
      return true;
    }
    if (this.waiting) {
      if (this.held) this.outlet.supersede(this.held);
      this.held = frame;
      if (!this.paused) this.outlet.pause();
      this.paused = true;
      return false;
    }
    this.waiting = true; // before sending: the consumer may take it at once
    this.outlet.send(frame);
    return true;
  }

  /** The consumer took the waiting frame: the held one is sent next. Returns whether the decoder is read again. */
  taken(): boolean {
    if (!this.enabled) return false;
    this.waiting = false;
    const held = this.held;
    this.held = null;
    if (held) {
      this.waiting = true;
      this.outlet.send(held);
    }
    if (!this.paused) return false;
    this.paused = false;
    this.outlet.resume();
    return true;
  }

  /** A new decoder run: nothing waits, nothing is held, and its channels are read from the start. */
  reset(): void {
    this.waiting = false;
    this.held = null;
    this.paused = false;
  }
}
