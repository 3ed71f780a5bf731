import type { MqttConfig } from '../config/schema.js';
import { errorMessage, isLinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { HealthOutbox, ModelRef, Outbox, StoreHealthSnapshot, VerdictOutbox } from '../store/index.js';
import { toMb } from '../store/space.js';
import type { CameraSnapshot } from '../types.js';
import { BrokerConnection, type ConnectionOptions, type MessageHandler } from './client.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
import { healthDrain, splitForHealth } from './health-drain.js';
import { OutboxDrain, type DrainCounters } from './outbox-drain.js';
import { ALERT_SCHEMA, alertPayload, type AlertSource } from './payload.js';
import { cameraStatusPayload, nodeStatusPayload, OFFLINE_WILL, type PublishedState, type StoreStatus } from './status.js';
import { alertTopic, cameraStatusTopic, nodeStatusTopic, type TopicRoot } from './topics.js';
import { splitForVerdicts, verdictDrain } from './verdict-drain.js';
import { UnstoredQueue, type UnstoredAlert, type UnstoredCounters } from './unstored-queue.js';
import { systemClock, type Clock } from '../clock.js';
import { CaptureTimes } from './capture-times.js';
import { Listeners, type Unsubscribe } from '../listeners.js';

/** Knobs with production defaults; tests shorten them. */
export interface PublisherTuning {
  maxInflight?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  connectTimeoutMs?: number;
  keepaliveSec?: number;
  /** Safety net: how often the outbox is polled even without `kick()`, ms. */
  pollMs?: number;
  /** Wait after a PUBACK with an error reason, ms. */
  retryMs?: number;
  /** Interface the embedded broker listens on. */
  embeddedHost?: string;
  /** Most alerts the store could not commit held in memory for the broker. Default 10 000. */
  unstoredMax?: number;
  /** How long a connection must stay up before a flapping broker counts as stable again, ms. Default 10 000. */
  stableMs?: number;
}

export interface PublisherOptions {
  mqtt: MqttConfig;
  site: string;
  line: string;
  /** The detector, for alerts recorded without one. */
  model: ModelRef;
  /** linesight version, on the node status topic. */
  version: string;
  /** The configured, enabled cameras, on the node status topic (read each time: a reload may change them). */
  cameras: () => readonly string[];
  outbox: Outbox;
  log: Logger;
  /** When given, camera statuses are published on connect and every `mqtt.status_interval`. */
  statusSource?: () => { snapshots: CameraSnapshot[]; provider: string };
  tuning?: PublisherTuning;
  /** Extra fields for the node status (e.g. `sync`), read at every status publish. */
  nodeExtra?: () => Record<string, unknown>;
  /** Called on every PUBACK with the alert's camera and its capture → PUBACK latency, ms. */
  onDelivered?: (camera: string, latencyMs: number) => void;
  /** Camera health events to publish on `{camera}/health` (none without it). */
  healthOutbox?: HealthOutbox;
  /** Operator verdicts to publish on `{camera}/verdict` (none without it). */
  verdictOutbox?: VerdictOutbox;
  /** The store's health, for the node status's `store` (absent without it). */
  storeHealth?: () => StoreHealthSnapshot;
  /** Time for the timers, the payloads and the latencies. Default: the system's. */
  clock?: Clock;
}

export interface Publisher {
  /** Broker URL in use (the embedded broker's when no `mqtt.url`). */
  readonly url: string;
  readonly embedded: boolean;
  readonly connected: boolean;
  readonly counters: Readonly<DrainCounters>;
  /** The alerts the store could not commit, sent from memory. */
  readonly unstored: Readonly<UnstoredCounters>;
  /** Last connection failure, while the broker is unreachable. */
  readonly lastError: { kind: string; message: string; at: number } | undefined;
  /** New alerts were recorded: send them now rather than at the next poll. */
  kick(): void;
  /** Health events published from the health outbox (all zero without one). */
  readonly healthCounters: Readonly<DrainCounters>;
  /** New health events were recorded: send them now rather than at the next poll. */
  kickHealth(): void;
  /** Verdicts published from the verdict outbox (all zero without one). */
  readonly verdictCounters: Readonly<DrainCounters>;
  /** New verdicts were recorded: send them now rather than at the next poll. */
  kickVerdicts(): void;
  /** Alert `id` was captured at `captureMono` (monotonic ms): its latencies are measured from there. */
  captured(id: string, captureMono: number): void;
  /**
   * An alert the store could not commit: published once from a bounded memory
   * queue (QoS 1, `stored: false`), never through the outbox.
   */
  publishUnstored(alert: Omit<UnstoredAlert, 'replayed'>): void;
  publishCameraStatus(snapshot: CameraSnapshot, extra: { provider: string }): void;
  publishNodeStatus(): void;
  /**
   * Reads `topic` (exact, QoS 1) for as long as linesight runs, across reconnects; retained messages
   * arrive again on each connection. Returns the unsubscribe function.
   */
  subscribe(topic: string, handler: MessageHandler): () => void;
  /** Called after every (re)connection, once the statuses are restated: for retained state a reader must find again. */
  onConnect(listener: () => void): Unsubscribe;
  /**
   * Publishes one message outside the outboxes (QoS 1): for retained state and command responses, which
   * are restated rather than queued. Returns false, without queueing, while the broker is unreachable.
   */
  publishRaw(topic: string, payload: string, options: { retain: boolean; userProperties?: Record<string, string> }, done?: (err?: Error) => void): boolean;
  /** Publishes offline statuses, disconnects, stops the embedded broker. Unsent alerts stay in the outbox; unstored ones are lost (logged). */
  stop(): Promise<void>;
}

/**
 * Starts the MQTT side: the embedded broker when no url is configured, the
 * self-healing connection, the outbox drain and the status topics.
 *
 * @example
 * const publisher = await startPublisher({ mqtt: cfg.mqtt, site, line, model, version, cameras, outbox: store, log });
 * store.recordEvent(event, model); publisher.kick();
 */
export async function startPublisher(opts: PublisherOptions): Promise<Publisher> {
  const t = opts.tuning ?? {};
  const log = opts.log.child({ stage: 'publish' });
  const broker: EmbeddedBroker | undefined = opts.mqtt.url
    ? undefined
    : await startEmbeddedBroker(opts.mqtt.embedded_port, log, t.embeddedHost);
  const root: TopicRoot = { prefix: opts.mqtt.topic_prefix, site: opts.site, line: opts.line };
  const statuses = new Statuses(opts, root, (topic, body) => connection.publish(topic, JSON.stringify(body), { qos: 1, retain: true }), log);

  const clock = opts.clock ?? systemClock;
  const captures = new CaptureTimes(clock);
  const send = (item: AlertSource, done: (err?: Error) => void) => sendAlert(connection, root, opts, { item, captures }, done);
  const drain = new OutboxDrain(opts.outbox, send, { maxInflight: t.maxInflight ?? 16, retryMs: t.retryMs ?? 5000, clock }, log);
  const unstored = new UnstoredQueue((alert, done) => send({ ...alert, stored: false }, done), {
    max: t.unstoredMax ?? 10_000, retryMs: t.retryMs ?? 5000, clock,
  }, log);
  statuses.unstoredDropped = () => unstored.counters.dropped;
  const drainCtx = { root, site: opts.site, line: opts.line, retryMs: t.retryMs ?? 5000, clock };
  const health = opts.healthOutbox && healthDrain(() => connection, opts.healthOutbox, drainCtx, log);
  const verdicts = opts.verdictOutbox && verdictDrain(() => connection, opts.verdictOutbox, drainCtx, log);

  const connected = new Listeners<[]>();
  const connection = await createConnection(broker, () => new BrokerConnection(connectionOptions(opts, root, broker), {
    onConnect: (receiveMaximum) => {
      // Both queues share the broker's Receive Maximum (MQTT 5 §3.2.2.3.3): the unstored one takes a small part.
      const share = shareWindow(receiveMaximum);
      const split = health ? splitForHealth(share.outbox) : { outbox: share.outbox, health: 0 };
      const ofVerdicts = verdicts ? splitForVerdicts(split.outbox) : { outbox: split.outbox, verdicts: 0 };
      drain.start(ofVerdicts.outbox);
      health?.start(split.health);
      verdicts?.start(ofVerdicts.verdicts);
      unstored.start(share.unstored);
      // Retained statuses may be gone (a broker without persistence): state them again.
      statuses.restate();
      connected.emit();
    },
    onDisconnect: () => {
      drain.stop();
      health?.stop();
      verdicts?.stop();
      unstored.stop();
    },
  }, log));

  connection.start();
  const timers = [
    clock.setInterval(() => {
      drain.kick();
      health?.kick();
      verdicts?.kick();
      unstored.kick();
    }, t.pollMs ?? 1000),
    clock.setInterval(() => statuses.publishAll(), opts.mqtt.status_interval * 1000),
  ];

  return {
    url: broker?.url ?? (opts.mqtt.url as string),
    embedded: broker !== undefined,
    get connected() {
      return connection.connected;
    },
    counters: drain.counters,
    get lastError() {
      const f = connection.lastFailure;
      return f && { kind: f.kind, message: f.message, at: f.at };
    },
    unstored: unstored.counters,
    kick: () => drain.kick(),
    healthCounters: health?.counters ?? { published: 0, acked: 0, replayed: 0 },
    kickHealth: () => health?.kick(),
    verdictCounters: verdicts?.counters ?? { published: 0, acked: 0, replayed: 0 },
    kickVerdicts: () => verdicts?.kick(),
    captured: (id, captureMono) => captures.note(id, captureMono),
    publishUnstored: (alert) => unstored.push({ ...alert, replayed: false }),
    publishCameraStatus: (snapshot, extra) => statuses.camera(snapshot, extra),
    publishNodeStatus: () => statuses.node(),
    subscribe: (topic, handler) => connection.subscribe(topic, handler),
    onConnect: (listener) => connected.add(() => {
      try {
        listener();
      } catch (err) {
        log.error({ code: isLinesightError(err) ? err.code : 'E_MQTT', err: errorMessage(err) }, `a connect listener failed: ${errorMessage(err)}`);
      }
    }),
    publishRaw: (topic, payload, options, done) => connection.publish(topic, payload, { qos: 1, retain: options.retain, userProperties: options.userProperties }, done),
    async stop() {
      for (const timer of timers) clock.clearInterval(timer);
      const last = statuses.offline();
      await connection.stop({ topic: nodeStatusTopic(root), payload: last });
      drain.stop();
      health?.stop();
      verdicts?.stop();
      const lost = unstored.close();
      if (lost > 0) log.warn({ code: 'E_STORE', lost }, `${lost} unstored alerts had no PUBACK yet when linesight stopped; they were never in the outbox and are lost`);
      await broker?.close();
    },
  };
}

/** Publishes one alert: QoS 1, never retained, no Message Expiry Interval (MQTT 5 §3.3.2.3.3) so it never expires. */
function sendAlert(connection: BrokerConnection, root: TopicRoot, opts: PublisherOptions, a: { item: AlertSource; captures: CaptureTimes }, done: (err?: Error) => void): boolean {
  const { item, captures } = a;
  const payload = JSON.stringify(alertPayload(item, { site: opts.site, line: opts.line, model: opts.model }, captures.since(item.event.id, item.event.ts)));
  const userProperties: Record<string, string> = { id: item.event.id, schema: ALERT_SCHEMA };
  if (item.stored === false) userProperties.stored = 'false';
  return connection.publish(alertTopic(root, item.event.camera), payload, { qos: 1, retain: false, userProperties }, (err?: Error) => {
    // Capture → PUBACK: the latency the MES actually sees (aggregates, metrics).
    if (!err) {
      opts.onDelivered?.(item.event.camera, captures.since(item.event.id, item.event.ts));
      captures.forget(item.event.id);
    }
    done(err);
  });
}

/** Splits the broker's in-flight limit: up to 4 for unstored alerts, the rest (at least 1) for the outbox. */
export function shareWindow(receiveMaximum: number): { outbox: number; unstored: number } {
  const unstored = Math.max(1, Math.min(4, Math.floor(receiveMaximum / 4)));
  return { outbox: Math.max(1, receiveMaximum - unstored), unstored };
}

/** The connection's settings: the embedded broker speaks MQTT 3.1.1 only, a configured one the configured version. */
function connectionOptions(opts: PublisherOptions, root: TopicRoot, broker: EmbeddedBroker | undefined): ConnectionOptions {
  const t = opts.tuning ?? {};
  const tls = opts.mqtt.tls;
  return {
    url: broker?.url ?? (opts.mqtt.url as string),
    protocolVersion: broker ? 4 : opts.mqtt.protocol_version,
    clientId: opts.mqtt.client_id ?? `linesight-${opts.site}-${opts.line}`,
    username: opts.mqtt.username,
    password: opts.mqtt.password,
    tls: tls && { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.reject_unauthorized },
    will: { topic: nodeStatusTopic(root), payload: OFFLINE_WILL },
    keepaliveSec: t.keepaliveSec ?? 30,
    connectTimeoutMs: t.connectTimeoutMs ?? 10_000,
    backoff: { initialMs: t.backoffInitialMs ?? 1000, maxMs: t.backoffMaxMs ?? 30_000 },
    stableMs: t.stableMs,
    clock: opts.clock,
  };
}

/**
 * The retained status topics: the node's and each camera's. Status is best
 * effort: a failure (the store, the snapshot source) is logged and never
 * reaches mqtt.js or a timer unhandled.
 */
class Statuses {
  private readonly last = new Map<string, { snapshot: CameraSnapshot; provider: string }>();
  unstoredDropped: () => number = () => 0;

  constructor(
    private readonly opts: PublisherOptions,
    private readonly root: TopicRoot,
    private readonly retained: (topic: string, body: unknown) => void,
    private readonly log: Logger,
  ) {}

  node(): void {
    this.safely('publish the node status', () => this.retained(nodeStatusTopic(this.root), this.nodeBody('online')));
  }

  camera(snapshot: CameraSnapshot, extra: { provider: string }, state?: PublishedState): void {
    this.safely('publish a camera status', () => this.publishCamera(snapshot, extra, state));
  }

  /** Node and every camera, from the status source. */
  publishAll(): void {
    this.safely('publish the statuses', () => {
      this.retained(nodeStatusTopic(this.root), this.nodeBody('online'));
      if (!this.opts.statusSource) return;
      const { snapshots, provider } = this.opts.statusSource();
      for (const snapshot of snapshots) this.publishCamera(snapshot, { provider });
    });
  }

  /** After a (re)connect: from the source when there is one, else the last ones published. */
  restate(): void {
    if (this.opts.statusSource) {
      this.publishAll();
      return;
    }
    this.node();
    for (const { snapshot, provider } of this.last.values()) this.camera(snapshot, { provider });
  }

  /** Publishes every camera as offline; returns the node's offline status for the clean disconnect. */
  offline(): string {
    let body: string = OFFLINE_WILL;
    this.safely('publish the offline statuses', () => {
      for (const { snapshot, provider } of this.last.values()) this.publishCamera(snapshot, { provider }, 'offline');
      body = JSON.stringify(this.nodeBody('offline'));
    });
    return body;
  }

  private publishCamera(snapshot: CameraSnapshot, extra: { provider: string }, state?: PublishedState): void {
    this.last.set(snapshot.id, { snapshot, provider: extra.provider });
    const body = cameraStatusPayload(snapshot, { provider: extra.provider, outboxDepth: this.opts.outbox.depth(snapshot.id), state }, (this.opts.clock ?? systemClock).now());
    this.retained(cameraStatusTopic(this.root, snapshot.id), body);
  }

  private nodeBody(state: 'online' | 'offline'): object {
    const c = this.opts.outbox.counters();
    const base = nodeStatusPayload({
      state, version: this.opts.version, cameras: this.opts.cameras(), depth: c.depth, dropped: c.dropped + c.rejected, store: this.store(),
    }, (this.opts.clock ?? systemClock).now());
    return this.opts.nodeExtra ? { ...this.opts.nodeExtra(), ...base } : base;
  }

  private store(): StoreStatus | undefined {
    const h = this.opts.storeHealth?.();
    return h && { state: h.state, free_mb: toMb(h.freeBytes), unstored: h.unstored, unstored_dropped: this.unstoredDropped() };
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ code: isLinesightError(err) ? err.code : 'E_MQTT', cause: errorMessage(err) }, `could not ${what}: ${errorMessage(err)}`);
    }
  }
}

/** Builds the connection; if that throws (an unreadable TLS file), the embedded broker must not outlive it. */
async function createConnection(broker: EmbeddedBroker | undefined, build: () => BrokerConnection): Promise<BrokerConnection> {
  try {
    return build();
  } catch (err) {
    await broker?.close();
    throw err;
  }
}
