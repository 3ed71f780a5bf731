import { describeValue, LinesightError } from '../errors.js';
import type { Frame } from '../types.js';

/** Where flow control sends frames, and how it stops and restarts the decoder's output. */
export interface FlowOutlet {
  /** Hand the frame to the consumer. */
  send(frame: Frame): void;
  /** A held frame was replaced by a newer one before a credit came for it (counted and released by the camera). */
  supersede(frame: Frame): void;
  /** Stop reading the decoder: it blocks on its next write. */
  pause(): void;
  resume(): void;
}

/**
 * For a file replayed as fast as possible (`realtime: false`): frames go to
 * the consumer only against credits it grants (`grant`, one per frame it has
 * room for; a run starts with one). A frame decoded while no credit is left is
 * held, in place of an older held one (superseded), and the decoder is no
 * longer read: ffmpeg blocks on its pipe instead of decoding frames that
 * would be dropped. The next credit sends the held frame and reads the decoder
 * again. Live cameras are never held back (`enabled` false): their old frames
 * must be dropped downstream, not queued, so they ignore credits.
 *
 * @example
 * const flow = new FlowControl(true, outlet);
 * flow.offer(a); // sent against the run's first credit
 * flow.offer(b); // no credit: held, the decoder paused
 * flow.grant();  // b is sent, the decoder read again
 */
export class FlowControl {
  /** Frames the consumer has room for. */
  private credits = 1;
  /** The newest frame decoded while no credit was left. */
  private held: Frame | null = null;
  private paused = false;

  constructor(readonly enabled: boolean, private readonly outlet: FlowOutlet) {}

  /** A new frame: sent against a credit (returns true), else held in place of an older held one, and the decoder paused (false). */
  offer(frame: Frame): boolean {
    if (!this.enabled) {
      this.outlet.send(frame);
      return true;
    }
    if (this.credits > 0) {
      this.credits--; // before sending: the consumer may grant again at once
      this.outlet.send(frame);
      return true;
    }
    if (this.held) this.outlet.supersede(this.held);
    this.held = frame;
    if (!this.paused) this.outlet.pause();
    this.paused = true;
    return false;
  }

  /** The consumer has room for `n` more frames: the held one is sent, and the decoder read again. Returns whether it was paused. */
  grant(n = 1): boolean {
    if (!Number.isInteger(n) || n < 1) throw new LinesightError('E_ARGUMENT', `Expected a positive integer of credits but received ${describeValue(n)}`);
    if (!this.enabled) return false;
    this.credits += n;
    const held = this.held;
    if (held) {
      this.held = null;
      this.credits--;
      this.outlet.send(held);
    }
    if (!this.paused) return false;
    this.paused = false;
    this.outlet.resume();
    return true;
  }

  /** A new decoder run: one credit, not paused; returns the frame that was held, never to be sent. */
  reset(): Frame | null {
    const held = this.held;
    this.credits = 1;
    this.held = null;
    this.paused = false;
    return held;
  }
}
