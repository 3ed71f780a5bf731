import type { MqttConfig } from '../config/schema.js';
import { errorMessage, isLinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ModelRef, Outbox } from '../store/index.js';
import type { CameraSnapshot } from '../types.js';
import { BrokerConnection, type ConnectionOptions } from './client.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
import { OutboxDrain, type DrainCounters } from './outbox-drain.js';
import { ALERT_SCHEMA, alertPayload } from './payload.js';
import { cameraStatusPayload, nodeStatusPayload, OFFLINE_WILL, type PublishedState } from './status.js';
import { alertTopic, cameraStatusTopic, nodeStatusTopic, type TopicRoot } from './topics.js';

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
}

export interface PublisherOptions {
  mqtt: MqttConfig;
  site: string;
  line: string;
  /** The detector, for alerts recorded without one. */
  model: ModelRef;
  /** linesight version, on the node status topic. */
  version: string;
  cameras: string[];
  outbox: Outbox;
  log: Logger;
  /** When given, camera statuses are published on connect and every `mqtt.status_interval`. */
  statusSource?: () => { snapshots: CameraSnapshot[]; provider: string };
  tuning?: PublisherTuning;
  /** Extra fields for the node status (e.g. `sync`), read at every status publish. */
  nodeExtra?: () => Record<string, unknown>;
  /** Called on every PUBACK with the alert's camera and its capture → PUBACK latency, ms. */
  onDelivered?: (camera: string, latencyMs: number) => void;
}

export interface Publisher {
  /** Broker URL in use (the embedded broker's when no `mqtt.url`). */
  readonly url: string;
  readonly embedded: boolean;
  readonly connected: boolean;
  readonly counters: Readonly<DrainCounters>;
  /** Last connection failure, while the broker is unreachable. */
  readonly lastError: { kind: string; message: string; at: number } | undefined;
  /** New alerts were recorded: send them now rather than at the next poll. */
  kick(): void;
  publishCameraStatus(snapshot: CameraSnapshot, extra: { provider: string }): void;
  publishNodeStatus(): void;
  /** Publishes offline statuses, disconnects, stops the embedded broker. Unsent alerts stay in the outbox. */
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

  const drain = new OutboxDrain(
    opts.outbox,
    (item, done) => {
      const payload = JSON.stringify(alertPayload(item, { site: opts.site, line: opts.line, model: opts.model }, Date.now()));
      // Alerts: QoS 1, never retained, no Message Expiry Interval (MQTT 5 §3.3.2.3.3) so they never expire.
      return connection.publish(alertTopic(root, item.event.camera), payload, {
        qos: 1, retain: false, userProperties: { id: item.event.id, schema: ALERT_SCHEMA },
      }, (err?: Error) => {
        // Capture → PUBACK: the latency the MES actually sees (aggregates, metrics).
        if (!err) opts.onDelivered?.(item.event.camera, Date.now() - item.event.ts);
        done(err);
      });
    },
    { maxInflight: t.maxInflight ?? 16, retryMs: t.retryMs ?? 5000 },
    log,
  );

  const connection = await createConnection(broker, () => new BrokerConnection(connectionOptions(opts, root, broker), {
    onConnect: (receiveMaximum) => {
      drain.start(receiveMaximum);
      // Retained statuses may be gone (a broker without persistence): state them again.
      statuses.restate();
    },
    onDisconnect: () => drain.stop(),
  }, log));

  connection.start();
  const timers = [
    setInterval(() => drain.kick(), t.pollMs ?? 1000),
    setInterval(() => statuses.publishAll(), opts.mqtt.status_interval * 1000),
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
    kick: () => drain.kick(),
    publishCameraStatus: (snapshot, extra) => statuses.camera(snapshot, extra),
    publishNodeStatus: () => statuses.node(),
    async stop() {
      for (const timer of timers) clearInterval(timer);
      const last = statuses.offline();
      await connection.stop({ topic: nodeStatusTopic(root), payload: last });
      drain.stop();
      await broker?.close();
    },
  };
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
  };
}

/**
 * The retained status topics: the node's and each camera's. Status is best
 * effort: a failure (the store, the snapshot source) is logged and never
 * reaches mqtt.js or a timer unhandled.
 */
class Statuses {
  private readonly last = new Map<string, { snapshot: CameraSnapshot; provider: string }>();

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
    const body = cameraStatusPayload(snapshot, { provider: extra.provider, outboxDepth: this.opts.outbox.depth(snapshot.id), state }, Date.now());
    this.retained(cameraStatusTopic(this.root, snapshot.id), body);
  }

  private nodeBody(state: 'online' | 'offline'): object {
    const c = this.opts.outbox.counters();
    const base = nodeStatusPayload({ state, version: this.opts.version, cameras: this.opts.cameras, depth: c.depth, dropped: c.dropped + c.rejected }, Date.now());
    return this.opts.nodeExtra ? { ...this.opts.nodeExtra(), ...base } : base;
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
