import { systemClock, type Clock, type Timer } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { OutboxItem } from '../store/index.js';

/** What the drain needs of a row: its position (increasing with insertion) and whether it waited through an outage. */
export interface Drainable {
  id: number;
  replayed: boolean;
}

/** A durable queue the drain reads in order and acknowledges on PUBACK (the alert outbox, the health outbox). */
export interface DrainSource<T extends Drainable> {
  /** Unsent rows with id > `afterId`, oldest first. */
  pendingBatch(limit: number, afterId?: number): T[];
  /** Removes (or marks sent) acknowledged rows; returns how many were still unsent. */
  markSent(ids: readonly number[], at?: number): number;
  /** Flags every unsent row as replayed. */
  markAllReplayed(): number;
}

/** Hands one row to the broker; `done` runs on its PUBACK (or with an error). False: not sent, not connected. */
export type SendItem<T> = (item: T, done: (err?: Error) => void) => boolean;
/** Hands one alert to the broker; `done` runs on its PUBACK (or with an error). False: not sent, not connected. */
export type SendAlert = SendItem<OutboxItem>;

/** How the logs name a row: its camera, the row (`alert seq 4`) with its log fields, and the plural of its kind. */
export interface ItemLabels<T> {
  kind: string;
  of(item: T): { camera: string; what: string; fields: Record<string, unknown> };
}

const ALERT_LABELS: ItemLabels<OutboxItem> = {
  kind: 'alerts',
  of: (item) => ({ camera: item.event.camera, what: `alert seq ${item.seq}`, fields: { seq: item.seq } }),
};

export interface DrainOptions<T = OutboxItem> {
  /** Most alerts awaiting PUBACK at once (further capped by the broker's Receive Maximum). */
  maxInflight: number;
  /** Wait before re-sending an alert whose PUBACK carried an error reason, ms. */
  retryMs: number;
  /** Runs the retry timer (default: the system clock). */
  clock?: Clock;
  /** How the logs name a row (default: as an alert). */
  labels?: ItemLabels<T>;
}

export interface DrainCounters {
  /** PUBLISH packets handed to the broker (a re-send counts again). */
  published: number;
  /** Successful PUBACKs received. */
  acked: number;
  /** Publishes of alerts that had waited through an outage. */
  replayed: number;
}

/**
 * Moves alerts from the outbox to the broker in outbox order (hence `seq`
 * order per camera) with a bounded window in flight. The outbox is the only
 * queue: a row is deleted only in its PUBACK callback. When the connection
 * drops, whatever was in flight stays in the outbox and is sent again, flagged
 * `replayed`, on the next connection.
 */
export class OutboxDrain<T extends Drainable = OutboxItem> {
  readonly counters: DrainCounters = { published: 0, acked: 0, replayed: 0 };
  private readonly inflight = new Set<number>();
  /** Highest outbox id read on the current connection; rows up to it are in flight, acknowledged or refused. */
  private cursor = 0;
  /** Bumped on every connect/disconnect so callbacks of an earlier connection cannot disturb the window. */
  private generation = 0;
  private active = false;
  private window = 1;
  private acked: number[] = [];
  private flushQueued = false;
  /** Alerts the broker refused (PUBACK reason ≥ 0x80), waiting for their retry. */
  private readonly refused = new Map<number, T>();
  /** Refused at least once on this connection and not acknowledged since. */
  private readonly unresolved = new Set<number>();
  private retryTimer?: Timer;
  private readonly clock: Clock;
  private readonly labels: ItemLabels<T>;

  constructor(private readonly outbox: DrainSource<T>, private readonly send: SendItem<T>, private readonly opts: DrainOptions<T>, private readonly log: Logger) {
    this.clock = opts.clock ?? systemClock;
    // Without labels T is OutboxItem (the default type argument).
    this.labels = opts.labels ?? (ALERT_LABELS as unknown as ItemLabels<T>);
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** The connection is up: everything still in the outbox waited through an outage. */
  start(receiveMaximum: number): void {
    this.reset();
    this.active = true;
    this.window = Math.max(1, Math.min(this.opts.maxInflight, receiveMaximum));
    this.flush();
    this.storeCall(`flag waiting ${this.labels.kind} as replayed`, () => this.outbox.markAllReplayed());
    this.pump();
  }

  stop(): void {
    this.reset();
    this.active = false;
    this.flush();
  }

  /** New rows may be waiting. */
  kick(): void {
    this.pump();
  }

  private reset(): void {
    this.generation += 1;
    this.inflight.clear();
    this.cursor = 0; // refused and unacknowledged rows are read again from the outbox
    this.refused.clear();
    this.unresolved.clear();
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private pump(): void {
    while (this.active && this.inflight.size < this.window) {
      const batch = this.storeCall(`read the outbox of ${this.labels.kind}`, () => this.outbox.pendingBatch(this.window - this.inflight.size, this.cursor));
      if (!batch || batch.length === 0) return;
      for (const item of batch) {
        if (!this.sendOne(item)) return;
        this.cursor = item.id;
      }
    }
  }

  private sendOne(item: T): boolean {
    const generation = this.generation;
    this.inflight.add(item.id);
    const sent = this.send(item, (err) => this.done(generation, item, err));
    if (!sent) {
      // Not connected after all: the row stays for the next connection.
      this.inflight.delete(item.id);
      this.active = false;
      return false;
    }
    this.counters.published += 1;
    if (item.replayed) this.counters.replayed += 1;
    return true;
  }

  private done(generation: number, item: T, err?: Error): void {
    if (!err) {
      // A PUBACK is proof of delivery whichever connection it arrived on.
      this.counters.acked += 1;
      this.acked.push(item.id);
      this.queueFlush();
    }
    if (generation !== this.generation) return;
    this.inflight.delete(item.id);
    if (err) this.refuse(item, err);
    else if (this.unresolved.delete(item.id) && this.unresolved.size === 0) {
      const l = this.labels.of(item);
      this.log.info({ camera: l.camera, ...l.fields }, `the broker accepts the refused ${this.labels.kind} now`);
    }
  }

  /**
   * The broker answered PUBACK with an error reason (MQTT 5 §3.4.2.1, e.g. 0x87
   * Not authorized by its ACL). The row stays; it is re-sent after `retryMs`
   * while the rest of the outbox keeps flowing, so one refused camera topic
   * cannot block the others.
   */
  private refuse(item: T, err: Error): void {
    const l = this.labels.of(item);
    const fields = { code: 'E_MQTT', camera: l.camera, ...l.fields, cause: errorMessage(err), retry_ms: this.opts.retryMs };
    if (this.unresolved.size === 0) {
      this.log.warn(fields, `the broker refused ${l.what} of ${l.camera}: ${errorMessage(err)} — check the broker ACL for linesight's topics; it stays in the outbox and is retried`);
    } else this.log.debug(fields, `${l.what} refused by the broker`);
    this.unresolved.add(item.id);
    this.refused.set(item.id, { ...item, replayed: true });
    this.retryTimer ??= this.clock.setTimeout(() => this.retryRefused(), this.opts.retryMs);
  }

  private retryRefused(): void {
    this.retryTimer = undefined;
    const items = [...this.refused.values()].sort((a, b) => a.id - b.id);
    this.refused.clear();
    for (const item of items) {
      if (this.active && this.inflight.size < this.window && this.sendOne(item)) continue;
      this.refused.set(item.id, item);
    }
    if (this.refused.size > 0) this.retryTimer = this.clock.setTimeout(() => this.retryRefused(), this.opts.retryMs);
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // PUBACKs arrive in bursts: one transaction per event-loop turn, not one fsync per alert.
    setImmediate(() => {
      this.flushQueued = false;
      this.flush();
      this.pump();
    });
  }

  private flush(): void {
    if (this.acked.length === 0) return;
    const ids = this.acked;
    this.acked = [];
    // On failure the rows stay and are sent again; subscribers drop the duplicates by id.
    this.storeCall(`mark ${ids.length} acknowledged ${this.labels.kind} sent (they will be sent again)`, () => this.outbox.markSent(ids));
  }

  /**
   * Store calls run in mqtt.js and timer callbacks, where a throw would tear
   * down the connection or the process: log it and let the next kick or poll retry.
   */
  private storeCall<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.log.error({ code: 'E_STORE', cause: errorMessage(err) }, `could not ${what}: ${errorMessage(err)}`);
      return undefined;
    }
  }
}
