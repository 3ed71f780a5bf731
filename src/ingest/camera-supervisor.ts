import { systemClock, type Clock, type Timer } from '../clock.js';
import { Backoff } from '../backoff.js';
import type { Logger } from '../log.js';
import type { CameraError, CameraState } from '../types.js';
import type { Failure } from './ffmpeg-run.js';

/** The least wait before a restart, even when the jittered backoff draws less. */
const MIN_RETRY_MS = 200;

export interface SupervisorTimes {
  /** Longest wait for a (re)starting decoder's first frame. */
  startMs: number;
  /** Longest wait between frames once online. */
  stallMs: number;
  /** Online this long resets the backoff. */
  stableMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

/** What the supervisor drives: the camera's decoder runs. */
export interface SupervisedDecoder {
  /** Start a new decoder run. */
  launch(): void;
  /** End the current run, if any (its events are ignored from the call on). */
  halt(): Promise<void>;
  /** The state changed. */
  changed(next: CameraState, prev: CameraState): void;
}

/**
 * A camera's life: connecting → online → reconnecting → online … → stopped.
 * Restarts the decoder forever, after a capped exponential backoff with full
 * jitter (`Backoff`), when it fails, stalls or changes resolution; a watchdog
 * restarts a decoder that delivers no first frame within `startMs` (slow
 * cameras need longer to their first frame than between frames, Frigate
 * #11041) or no next frame within `stallMs`. A failure is logged once at warn
 * (repeats of the same one at debug) with what happens next, the recovery once
 * at info.
 */
export class CameraSupervisor {
  private current: CameraState = 'stopped';
  private readonly backoff: Backoff;
  private stallTimer: Timer | null = null;
  private retryTimer: Timer | null = null;
  private onlineSince = 0;
  private stopping = false;
  private lastLoggedFailure = '';
  private failures = 0;
  private lastFailure?: CameraError;

  constructor(
    private readonly times: SupervisorTimes,
    private readonly decoder: SupervisedDecoder,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.backoff = new Backoff(times.backoffInitialMs, times.backoffMaxMs);
  }

  get state(): CameraState {
    return this.current;
  }

  /** Failures so far, each followed by a restart. */
  get restarts(): number {
    return this.failures;
  }

  get lastError(): CameraError | undefined {
    return this.lastFailure;
  }

  start(): void {
    if (this.current !== 'stopped') return;
    this.stopping = false;
    this.setState('connecting');
    this.launch();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    await this.decoder.halt();
    this.setState('stopped');
  }

  /** A frame came (`size` is its source size, for the log): the camera is online, and the watchdog waits for the next one. */
  frameArrived(size: { width?: number; height?: number }): void {
    if (this.current !== 'online') {
      const recovered = this.current === 'reconnecting';
      this.onlineSince = this.clock.monotonic();
      this.setState('online');
      if (recovered) this.log.info({ restarts: this.failures, ...size }, 'camera recovered');
      else this.log.info(size, 'camera online');
      this.lastLoggedFailure = '';
    }
    this.watch();
  }

  /** The decoder is held back on purpose (flow control waits for the model): no stall to watch for. */
  hold(): void {
    if (this.stallTimer) this.clock.clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  /** (Re)arms the watchdog: the first frame within `startMs` while starting, the next within `stallMs` once online. */
  watch(): void {
    if (this.stopping || this.current === 'stopped') return;
    if (this.stallTimer) this.clock.clearTimeout(this.stallTimer);
    const starting = this.current !== 'online';
    const ms = starting ? this.times.startMs : this.times.stallMs;
    this.stallTimer = this.clock.setTimeout(() => {
      this.fail({
        code: 'E_CAMERA_STALL',
        message: starting
          ? `no first frame within ${ms / 1000} s (start_timeout); restarting the camera`
          : `no frame for ${ms / 1000} s (stall_timeout); restarting the camera`,
      });
    }, ms);
  }

  /** The decoder failed: halt it and launch another after the backoff. */
  fail(failure: Failure, level: 'warn' | 'info' = 'warn'): void {
    if (this.stopping || this.current === 'stopped') return;
    this.clearTimers();
    if (this.current === 'online' && this.clock.monotonic() - this.onlineSince >= this.times.stableMs) this.backoff.reset();
    this.failures++;
    this.lastFailure = { code: failure.code, message: failure.message, at: this.clock.now() };
    const delay = Math.max(MIN_RETRY_MS, this.backoff.next());
    this.logFailure(failure, delay, level);
    this.setState('reconnecting');
    void this.decoder.halt().then(() => {
      if (this.stopping) return;
      this.retryTimer = this.clock.setTimeout(() => {
        this.retryTimer = null;
        if (!this.stopping) this.launch();
      }, delay);
    });
  }

  /** The source is done (a file played once): stopped for good, the watchdog too. */
  ended(): void {
    this.log.info('video file ended; camera stopped');
    this.clearTimers();
    this.setState('stopped');
  }

  private launch(): void {
    this.decoder.launch();
    this.watch();
  }

  private logFailure(failure: Failure, delay: number, level: 'warn' | 'info'): void {
    const fields = { code: failure.code, retryInMs: delay, attempt: this.backoff.attempts };
    const key = `${failure.code}:${failure.message}`;
    if (key === this.lastLoggedFailure) {
      this.log.debug(fields, failure.message);
      return;
    }
    this.log[level](fields, `${failure.message}; retrying in ${(delay / 1000).toFixed(1)} s (and on, with backoff)`);
    this.lastLoggedFailure = key;
  }

  private clearTimers(): void {
    if (this.stallTimer) this.clock.clearTimeout(this.stallTimer);
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.stallTimer = null;
    this.retryTimer = null;
  }

  private setState(next: CameraState): void {
    const prev = this.current;
    if (prev === next) return;
    this.current = next;
    this.decoder.changed(next, prev);
  }
}
