import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ModelRef } from '../store/index.js';
import type { DefectEvent } from '../types.js';
import { systemClock, type Clock, type Timer } from '../clock.js';

/** An alert whose SQLite commit failed: it has a seq (continued in memory) but no outbox row. */
export interface UnstoredAlert {
  event: DefectEvent;
  seq: number;
  model?: ModelRef;
  /** It waited through a broker outage (or its PUBACK never came) before this publish. */
  replayed: boolean;
}

/** Hands one alert to the broker; `done` runs on its PUBACK (or with an error). False: not connected. */
export type SendUnstored = (alert: UnstoredAlert, done: (err?: Error) => void) => boolean;

export interface UnstoredCounters {
  /** Alerts handed to the queue. */
  accepted: number;
  /** PUBLISH packets sent (a re-send counts again). */
  published: number;
  /** PUBACKs received. */
  acked: number;
  /** Alerts dropped, oldest first, because the queue held `max` already. */
  dropped: number;
}

export interface UnstoredQueueOptions {
  /** Most alerts held (waiting or in flight). */
  max: number;
  /** Wait before re-sending an alert the broker refused, ms. */
  retryMs: number;
  /** Time for that wait. Default: the system's. */
  clock?: Clock;
}

/**
 * The publisher's second source of alerts, for those the store could not
 * commit: a bounded in-memory queue, drained with QoS 1 while connected. An
 * alert leaves it on PUBACK; one in flight when the connection drops is sent
 * again (flagged replayed) on the next one. When full, the oldest waiting
 * alert is dropped and counted: memory stays flat however long the disk is full.
 */
export class UnstoredQueue {
  readonly counters: UnstoredCounters = { accepted: 0, published: 0, acked: 0, dropped: 0 };
  private waiting: UnstoredAlert[] = [];
  private readonly inflight = new Map<string, UnstoredAlert>();
  private readonly refused: UnstoredAlert[] = [];
  private generation = 0;
  private active = false;
  private window = 1;
  private dropping = false;
  private retryTimer?: Timer;
  private readonly clock: Clock;

  constructor(private readonly send: SendUnstored, private readonly opts: UnstoredQueueOptions, private readonly log: Logger) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Alerts held: waiting, refused or in flight. */
  get size(): number {
    return this.waiting.length + this.refused.length + this.inflight.size;
  }

  push(alert: UnstoredAlert): void {
    this.counters.accepted += 1;
    if (this.size >= this.opts.max && !this.dropOldest()) {
      this.dropped(alert);
      return;
    }
    this.waiting.push(alert);
    this.pump();
  }

  /** Connected, with `window` publishes allowed in flight. */
  start(window: number): void {
    this.generation += 1;
    this.active = true;
    this.window = Math.max(1, window);
    this.pump();
  }

  /** Disconnected: what was in flight goes back to the head of the line, to be sent again. */
  stop(): void {
    this.generation += 1;
    this.active = false;
    const back = [...this.inflight.values()].map((a) => ({ ...a, replayed: true }));
    this.inflight.clear();
    this.waiting = [...back, ...this.waiting];
  }

  kick(): void {
    this.pump();
  }

  /** Forgets everything held (the publisher stops); returns how many alerts never got their PUBACK. */
  close(): number {
    this.stop();
    this.clock.clearTimeout(this.retryTimer);
    const left = this.size;
    this.waiting = [];
    this.refused.length = 0;
    return left;
  }

  private pump(): void {
    while (this.active && this.inflight.size < this.window && this.waiting.length > 0) {
      const alert = this.waiting.shift() as UnstoredAlert;
      if (this.sendOne(alert)) continue;
      this.waiting.unshift(alert);
      this.active = false;
      return;
    }
  }

  private sendOne(alert: UnstoredAlert): boolean {
    const generation = this.generation;
    this.inflight.set(alert.event.id, alert);
    const sent = this.send(alert, (err) => this.done(generation, alert, err));
    if (!sent) {
      this.inflight.delete(alert.event.id);
      return false;
    }
    this.counters.published += 1;
    return true;
  }

  private done(generation: number, alert: UnstoredAlert, err?: Error): void {
    if (!err) {
      this.counters.acked += 1;
      // A PUBACK from an earlier connection still proves delivery: do not send it again.
      if (generation !== this.generation) this.waiting = this.waiting.filter((a) => a.event.id !== alert.event.id);
    }
    if (generation !== this.generation) return;
    this.inflight.delete(alert.event.id);
    if (err) this.refuse(alert, err);
    if (this.size === 0) this.dropping = false;
    this.pump();
  }

  /** The PUBACK carried an error reason (MQTT 5 §3.4.2.1): keep it, retry after `retryMs`, the others keep flowing. */
  private refuse(alert: UnstoredAlert, err: Error): void {
    if (this.refused.length === 0) {
      this.log.warn({ code: 'E_MQTT', camera: alert.event.camera, seq: alert.seq, cause: errorMessage(err), retry_ms: this.opts.retryMs },
        `the broker refused unstored alert seq ${alert.seq} of ${alert.event.camera}: ${errorMessage(err)}; retrying from memory`);
    }
    this.refused.push({ ...alert, replayed: true });
    this.retryTimer ??= this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.waiting = [...this.refused.splice(0), ...this.waiting];
      this.pump();
    }, this.opts.retryMs);
  }

  /** Drops the oldest alert not in flight; false when every held alert is in flight. */
  private dropOldest(): boolean {
    const oldest = this.refused.shift() ?? this.waiting.shift();
    if (!oldest) return false;
    this.dropped(oldest);
    return true;
  }

  private dropped(alert: UnstoredAlert): void {
    this.counters.dropped += 1;
    if (this.dropping) return;
    this.dropping = true;
    this.log.warn({ code: 'E_STORE', camera: alert.event.camera, seq: alert.seq, max: this.opts.max },
      `in-memory queue of unstored alerts full (${this.opts.max}): dropping the oldest for each new one until the broker takes them; counted as unstored_dropped on the status topic`);
  }
}
