import { systemClock, type Clock, type Timer } from '../clock.js';
import type { MqttConfig, SparkplugConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { BrokerConnection } from '../publish/client.js';
import type { PublisherTuning } from '../publish/index.js';
import type { SparkplugLedger } from '../store/sparkplug-ledger.js';
import { EdgeSession, type EdgePhase, type EdgeSources } from './session.js';
import { nodeTopic, stateTopic, type EdgeNodeId } from './topics.js';

export type { EdgeSources } from './session.js';

export interface SparkplugOptions {
  config: SparkplugConfig;
  /** Credentials, TLS and protocol version are shared with the JSON contract's connection. */
  mqtt: MqttConfig;
  site: string;
  line: string;
  /** The JSON contract's broker (the embedded one's URL when it runs): the default when `config.url` is unset. */
  brokerUrl: string;
  /** The embedded broker speaks MQTT 3.1.1 only. */
  embedded: boolean;
  ledger: SparkplugLedger;
  sources: EdgeSources;
  log: Logger;
  clock?: Clock;
  /** Reconnect and connect timings (tests shorten them). */
  tuning?: Pick<PublisherTuning, 'backoffInitialMs' | 'backoffMaxMs' | 'connectTimeoutMs' | 'keepaliveSec' | 'stableMs'>;
}

export interface SparkplugNode {
  readonly id: EdgeNodeId;
  readonly phase: EdgePhase;
  /** New alerts were recorded: send them as defects now rather than at the next tick. */
  kick(): void;
  /** Publishes NDEATH (when born) and disconnects. */
  stop(): Promise<void>;
}

/**
 * Starts linesight's Sparkplug B edge node on a connection of its own (its
 * will is the NDEATH, which the JSON contract's connection cannot share).
 *
 * @example
 * const node = startSparkplug({ config: cfg.mqtt.sparkplug, mqtt: cfg.mqtt, site, line, brokerUrl, embedded, ledger: store.sparkplugLedger(), sources, log });
 * line.onAlert(() => node.kick());
 */
export function startSparkplug(opts: SparkplugOptions): SparkplugNode {
  const c = opts.config;
  const clock = opts.clock ?? systemClock;
  const log = opts.log.child({ stage: 'sparkplug' });
  const id: EdgeNodeId = { group: c.group_id ?? opts.site, node: c.edge_node ?? opts.line };
  const url = c.url ?? opts.brokerUrl;
  const t = opts.tuning ?? {};
  let cycling: Promise<void> | undefined;
  let stopping = false;

  const session: EdgeSession = new EdgeSession(id, { publish: (...args) => connection.publish(...args) }, opts.ledger, opts.sources, {
    primaryHost: c.primary_host, clock, log,
    hostOffline: () => {
      cycling ??= reconnect().finally(() => (cycling = undefined));
    },
  });
  const tls = opts.mqtt.tls;
  const connection = new BrokerConnection({
    url,
    // The embedded broker speaks 3.1.1 only; an external one, as configured.
    protocolVersion: opts.embedded && c.url === undefined ? 4 : opts.mqtt.protocol_version,
    clientId: c.client_id ?? `linesight-${opts.site}-${opts.line}-sparkplug`,
    username: opts.mqtt.username,
    password: opts.mqtt.password,
    tls: tls && { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.reject_unauthorized },
    will: () => session.will(),
    keepaliveSec: t.keepaliveSec ?? 30,
    connectTimeoutMs: t.connectTimeoutMs ?? 10_000,
    backoff: { initialMs: t.backoffInitialMs ?? 1000, maxMs: t.backoffMaxMs ?? 30_000 },
    stableMs: t.stableMs,
    clock,
  }, {
    onConnect: () => session.connected(),
    onDisconnect: () => session.disconnected(),
  }, log);
  // Subscribed again before every birth (the connection subscribes first, then reports it connected).
  connection.subscribe(nodeTopic(id, 'NCMD'), (m) => session.command(m.payload));
  if (c.primary_host !== undefined) connection.subscribe(stateTopic(c.primary_host), (m) => session.hostState(m.payload));

  /** §5.7: the primary host went offline: NDEATH, disconnect, connect again (new bdSeq) and wait for it. */
  async function reconnect(): Promise<void> {
    log.warn({ host: c.primary_host }, `Sparkplug host ${c.primary_host} went offline: publishing NDEATH and reconnecting to wait for it`);
    await sendDeath();
    await connection.stop();
    if (!stopping) connection.start();
  }

  /** The will is dropped by a clean DISCONNECT, so an intentional one publishes the NDEATH itself first. */
  function sendDeath(timeoutMs = 2000): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer: Timer = clock.setTimeout(() => finish(), timeoutMs);
      function finish(): void {
        clock.clearTimeout(timer);
        resolve();
      }
      const sent = connection.publish(nodeTopic(id, 'NDEATH'), session.death(), { qos: 1, retain: false }, (err) => {
        if (err) log.warn({ code: 'E_MQTT', err: errorMessage(err) }, `NDEATH not acknowledged (${errorMessage(err)}); the broker's will stands in`);
        finish();
      });
      if (!sent) finish();
    });
  }

  connection.start();
  const timer = clock.setInterval(() => session.tick(), c.data_interval * 1000);
  log.info({ url, group: id.group, node: id.node, primary_host: c.primary_host }, `Sparkplug edge node ${id.group}/${id.node} starting`);

  return {
    id,
    get phase() {
      return session.phase;
    },
    kick: () => session.kick(),
    async stop() {
      stopping = true;
      clock.clearInterval(timer);
      await cycling;
      if (session.phase === 'born') await sendDeath();
      await connection.stop();
    },
  };
}
