import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { LinesightError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { describeFailure, hintFor, sameCause, type ConnectionFailure } from './failure.js';
import { retryDelay } from '../backoff.js';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { redactUrl } from '../config/url.js';

export interface ConnectionOptions {
  url: string;
  protocolVersion: 4 | 5;
  clientId: string;
  username?: string;
  password?: string;
  /** PEM file paths, read once at start. */
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
  /**
   * The last will (QoS 1). A function is called before every CONNECT, for a will that changes per connection
   * (Sparkplug's NDEATH carries the connection's bdSeq).
   */
  will: WillMessage | (() => WillMessage);
  keepaliveSec: number;
  connectTimeoutMs: number;
  /** Reconnect delay: doubles from `initialMs` up to `maxMs`, with jitter. */
  backoff: { initialMs: number; maxMs: number };
  /**
   * How long a connection must stay up before it counts as stable, ms (default 10 000): until then a drop
   * continues the outage (flapping) instead of starting a new one, and the backoff keeps growing.
   */
  stableMs?: number;
  /** Time source for durations and timers (default: the system clock). */
  clock?: Clock;
}

const DEFAULT_STABLE_MS = 10_000;

export interface WillMessage {
  topic: string;
  payload: string | Buffer;
  /** Default true (linesight's status will); Sparkplug's NDEATH is not retained. */
  retain?: boolean;
}

export interface ConnectionHandlers {
  /** A CONNACK accepted the connection; `receiveMaximum` is the broker's in-flight limit (MQTT 5 §3.2.2.3.3). */
  onConnect(receiveMaximum: number): void;
  /** The connection is gone; every publish callback still pending belongs to the past. */
  onDisconnect(): void;
}

/** A message received on a subscribed topic. */
export interface InboundMessage {
  topic: string;
  payload: Buffer;
  /** True when the broker delivered a retained message (on subscribe), not a live one. */
  retained: boolean;
}

export type MessageHandler = (message: InboundMessage) => void;

export interface PublishRequest {
  qos: 0 | 1;
  retain: boolean;
  userProperties?: Record<string, string>;
}

/**
 * One broker connection that heals itself. Each attempt uses a fresh mqtt.js
 * client with its own reconnect turned off: when the connection drops, the
 * client and its in-memory queue are discarded (their pending callbacks fail),
 * so nothing is re-sent behind the outbox's back.
 *
 * Logging follows the state of the link, not the attempts (see ConnectionLog):
 * a failure once at warn per outage (again only when its cause changes kind),
 * recovery once at info; a link that keeps dropping soon after each reconnect
 * is one "flapping" warning and, once it has stayed up for `stableMs`, one
 * summary. Backoff is reset only by a stable connection, so a flapping broker
 * is not hammered with a reconnect every `initialMs`.
 */
export class BrokerConnection {
  connected = false;
  lastFailure?: ConnectionFailure & { at: number };
  private client?: MqttClient;
  private timer?: Timer;
  private stableTimer?: Timer;
  private failures = 0;
  private stopping = false;
  private readonly clock: Clock;
  private readonly stableMs: number;
  private readonly states: ConnectionLog;
  private readonly tlsFiles: Pick<IClientOptions, 'ca' | 'cert' | 'key'>;
  /** Exact topics read by linesight (no wildcards), each with its handlers; subscribed again on every connection. */
  private readonly subscriptions = new Map<string, Set<MessageHandler>>();

  constructor(private readonly opts: ConnectionOptions, private readonly handlers: ConnectionHandlers, private readonly log: Logger) {
    this.tlsFiles = readTlsFiles(opts.tls);
    this.clock = opts.clock ?? systemClock;
    this.stableMs = opts.stableMs ?? DEFAULT_STABLE_MS;
    this.states = new ConnectionLog(opts, this.clock, this.stableMs, log);
  }

  start(): void {
    this.stopping = false;
    this.open();
  }

  /** Sends when connected; returns false (and never queues) otherwise. `done` runs on PUBACK for QoS 1. */
  publish(topic: string, payload: string | Buffer, req: PublishRequest, done?: (err?: Error) => void): boolean {
    const client = this.client;
    if (!client || !this.connected) return false;
    const options: IClientPublishOptions = { qos: req.qos, retain: req.retain };
    if (this.opts.protocolVersion === 5 && req.userProperties) options.properties = { userProperties: req.userProperties };
    client.publish(topic, payload, options, (err) => done?.(err ?? undefined));
    return true;
  }

  /**
   * Reads `topic` (an exact topic, QoS 1) on this and every later connection: each connection is a
   * clean session, so the subscription is made again on connect and the broker re-sends retained messages.
   * A handler that throws is logged and does not affect the others. Returns the unsubscribe function.
   */
  subscribe(topic: string, handler: MessageHandler): () => void {
    if (/[#+]/.test(topic)) throw new LinesightError('E_ARGUMENT', `Expected an exact MQTT topic to subscribe to but received "${topic}" (wildcards are not supported)`);
    let handlers = this.subscriptions.get(topic);
    if (!handlers) {
      handlers = new Set();
      this.subscriptions.set(topic, handlers);
      if (this.client && this.connected) this.client.subscribe(topic, { qos: 1 });
    }
    handlers.add(handler);
    return () => {
      const set = this.subscriptions.get(topic);
      if (!set?.delete(handler) || set.size > 0) return;
      this.subscriptions.delete(topic);
      if (this.client && this.connected) this.client.unsubscribe(topic);
    };
  }

  /** Publishes `last` (retained, QoS 1) if connected, waits briefly for its PUBACK, then disconnects cleanly. */
  async stop(last?: { topic: string; payload: string }, timeoutMs = 2000): Promise<void> {
    this.stopping = true;
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.stableTimer);
    const client = this.client;
    if (!client) return;
    if (!this.connected) {
      // Still connecting: a DISCONNECT would only be queued in memory; drop the attempt.
      client.end(true);
      return;
    }
    if (last) {
      await this.withTimeout(new Promise<void>((resolve) => this.publish(last.topic, last.payload, { qos: 1, retain: true }, () => resolve())), timeoutMs);
    }
    await this.withTimeout(new Promise<void>((resolve) => client.end(false, {}, () => resolve())), timeoutMs);
    client.end(true);
  }

  private open(): void {
    const client = mqtt.connect(this.opts.url, this.clientOptions());
    this.client = client;
    let cause: unknown;
    client.on('error', (err) => {
      cause = err;
    });
    client.on('connect', (connack) => this.opened(client, connack.properties?.receiveMaximum ?? 65535));
    client.on('message', (topic, payload, packet) => this.received(client, { topic, payload, retained: packet.retain }));
    client.on('close', () => this.closed(client, cause));
  }

  private opened(client: MqttClient, receiveMaximum: number): void {
    if (this.client !== client) return;
    this.connected = true;
    this.lastFailure = undefined;
    this.states.connected();
    this.stableTimer = this.clock.setTimeout(() => this.stable(client), this.stableMs);
    if (this.subscriptions.size > 0) client.subscribe([...this.subscriptions.keys()], { qos: 1 });
    this.handlers.onConnect(receiveMaximum);
  }

  private received(client: MqttClient, message: InboundMessage): void {
    if (this.client !== client) return;
    for (const handler of this.subscriptions.get(message.topic) ?? []) {
      try {
        handler(message);
      } catch (err) {
        this.log.error({ code: 'E_ARGUMENT', topic: message.topic, err: errorMessage(err) }, `a handler of ${message.topic} failed; the message is ignored`);
      }
    }
  }

  /** Up for `stableMs` on the same client: the outage (or the flapping) is over. */
  private stable(client: MqttClient): void {
    if (this.client !== client || !this.connected) return;
    this.failures = 0;
    this.states.stable();
  }

  private closed(client: MqttClient, cause: unknown): void {
    if (this.client !== client) return;
    const wasConnected = this.connected;
    this.connected = false;
    this.client = undefined;
    this.clock.clearTimeout(this.stableTimer);
    // Disconnect first, so the callbacks that end() fails ("Connection closed") already belong to the past;
    // the outbox keeps those alerts.
    if (wasConnected) this.handlers.onDisconnect();
    client.end(true);
    if (this.stopping) return;
    this.failures += 1;
    const failure = describeFailure(cause);
    this.lastFailure = { ...failure, at: this.clock.now() };
    this.states.failed(failure, wasConnected);
    const { initialMs, maxMs } = this.opts.backoff;
    this.timer = this.clock.setTimeout(() => this.open(), retryDelay(this.failures, initialMs, maxMs));
  }

  private clientOptions(): IClientOptions {
    const o = this.opts;
    return {
      protocolVersion: o.protocolVersion,
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      clean: true,
      keepalive: o.keepaliveSec,
      connectTimeout: o.connectTimeoutMs,
      reconnectPeriod: 0,
      queueQoSZero: false,
      resubscribe: false,
      will: willOf(o.will),
      rejectUnauthorized: o.tls?.rejectUnauthorized ?? true,
      ...this.tlsFiles,
    };
  }

  private withTimeout(promise: Promise<void>, ms: number): Promise<void> {
    let timer: Timer | undefined;
    return Promise.race([promise, new Promise<void>((resolve) => (timer = this.clock.setTimeout(resolve, ms)))]).finally(() => this.clock.clearTimeout(timer));
  }
}

/**
 * What an operator reads about the link: one line per change of its state,
 * never one per attempt (those go to debug). The states:
 * up → lost (warn) → up again (info "reachable again") → stable.
 * A connection that drops again before it has been stable turns the outage
 * into flapping: one warn, then silence at info until the link has stayed up
 * for the stable period, when one info line sums it up (how long, how many
 * reconnects). Durations are monotonic, so a wall-clock step cannot distort them.
 */
class ConnectionLog {
  /** Set from the first failure until the link is stable again. */
  private outage?: { since: number; reconnects: number; flappingSince?: number; drops: number };
  private upSince = 0;
  private loggedCause?: ConnectionFailure;

  constructor(private readonly opts: ConnectionOptions, private readonly clock: Clock, private readonly stableMs: number, private readonly log: Logger) {}

  connected(): void {
    this.upSince = this.clock.monotonic();
    const outage = this.outage;
    if (!outage) {
      this.log.info({ url: redactUrl(this.opts.url), protocol: this.opts.protocolVersion }, 'connected to the MQTT broker');
      return;
    }
    outage.reconnects += 1;
    if (outage.flappingSince !== undefined) {
      this.log.debug({ url: redactUrl(this.opts.url), reconnects: outage.reconnects }, 'MQTT broker reachable again while flapping');
    } else {
      const seconds = this.secondsSince(outage.since);
      this.log.info({ url: redactUrl(this.opts.url), outage_s: seconds }, `MQTT broker reachable again after ${seconds} s; draining the outbox`);
    }
  }

  failed(failure: ConnectionFailure, wasConnected: boolean): void {
    const now = this.clock.monotonic();
    const outage = this.outage;
    // An outage stays open until a connection has lasted the stable period (stable() closes it), so a
    // connection that drops while one is open did not last: the link is flapping.
    if (wasConnected && outage) {
      outage.drops += 1;
      if (outage.flappingSince === undefined) this.flapping(outage, failure, now);
      else this.log.debug(this.fields(failure), 'MQTT connection dropped again while flapping');
      return;
    }
    this.outage ??= { since: now, reconnects: 0, drops: wasConnected ? 1 : 0 };
    this.report(failure, wasConnected);
  }

  stable(): void {
    const outage = this.outage;
    this.outage = undefined;
    this.loggedCause = undefined;
    if (outage?.flappingSince === undefined) return;
    const flapping = this.secondsSince(outage.flappingSince);
    const total = this.secondsSince(outage.since);
    this.log.info(
      { url: redactUrl(this.opts.url), outage_s: total, flapping_s: flapping, reconnects: outage.reconnects, drops: outage.drops, stable_s: this.stableMs / 1000 },
      `MQTT connection stable again: up for ${this.stableMs / 1000} s after ${total} s of trouble ` +
        `(${outage.reconnects} reconnects, ${outage.drops} drops); alerts kept in the outbox meanwhile are delivered`,
    );
  }

  private flapping(outage: NonNullable<ConnectionLog['outage']>, failure: ConnectionFailure, now: number): void {
    outage.flappingSince = now;
    this.loggedCause = failure;
    const up = Math.round((now - this.upSince) / 100) / 10;
    this.log.warn(
      { ...this.fields(failure), up_s: up, stable_s: this.stableMs / 1000 },
      `the MQTT connection is flapping: it dropped again ${up} s after reconnecting (${failure.message}) — another client with the same ` +
        `mqtt.client_id, a broker connection limit or an unstable network? Retrying with backoff, alerts wait in the outbox; ` +
        `one line follows once it has stayed up for ${this.stableMs / 1000} s`,
    );
  }

  private report(failure: ConnectionFailure, wasConnected: boolean): void {
    const fields = this.fields(failure);
    if (sameCause(this.loggedCause, failure)) {
      this.log.debug(fields, 'MQTT connection attempt failed again');
      return;
    }
    this.loggedCause = failure;
    const what = wasConnected ? 'lost the connection to the MQTT broker' : 'cannot connect to the MQTT broker';
    this.log.warn(fields, `${what} at ${redactUrl(this.opts.url)}: ${failure.message} — ${hintFor(failure)}; retrying with backoff, alerts wait in the outbox`);
  }

  private fields(failure: ConnectionFailure): Record<string, unknown> {
    return { code: 'E_MQTT', url: redactUrl(this.opts.url), cause: failure.message, retry: `backoff up to ${this.opts.backoff.maxMs} ms` };
  }

  private secondsSince(since: number): number {
    return Math.round((this.clock.monotonic() - since) / 100) / 10;
  }
}

function willOf(will: ConnectionOptions['will']): NonNullable<IClientOptions['will']> {
  const w = typeof will === 'function' ? will() : will;
  return { topic: w.topic, payload: Buffer.from(w.payload), qos: 1, retain: w.retain ?? true };
}

function readTlsFiles(tls: ConnectionOptions['tls']): Pick<IClientOptions, 'ca' | 'cert' | 'key'> {
  const out: Pick<IClientOptions, 'ca' | 'cert' | 'key'> = {};
  for (const key of ['ca', 'cert', 'key'] as const) {
    const path = tls?.[key];
    if (!path) continue;
    try {
      out[key] = readFileSync(path);
    } catch (err) {
      throw new LinesightError('E_CONFIG', `mqtt.tls.${key}: expected a readable PEM file at ${path} but ${errorMessage(err)}`, { cause: err });
    }
  }
  return out;
}
