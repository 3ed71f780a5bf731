import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { LinesightError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { describeFailure, hintFor, sameCause, type ConnectionFailure } from './failure.js';
import { retryDelay } from '../backoff.js';

export interface ConnectionOptions {
  url: string;
  protocolVersion: 4 | 5;
  clientId: string;
  username?: string;
  password?: string;
  /** PEM file paths, read once at start. */
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
  will: { topic: string; payload: string };
  keepaliveSec: number;
  connectTimeoutMs: number;
  /** Reconnect delay: doubles from `initialMs` up to `maxMs`, with jitter. */
  backoff: { initialMs: number; maxMs: number };
}

export interface ConnectionHandlers {
  /** A CONNACK accepted the connection; `receiveMaximum` is the broker's in-flight limit (MQTT 5 §3.2.2.3.3). */
  onConnect(receiveMaximum: number): void;
  /** The connection is gone; every publish callback still pending belongs to the past. */
  onDisconnect(): void;
}

export interface PublishRequest {
  qos: 0 | 1;
  retain: boolean;
  userProperties?: Record<string, string>;
}

/**
 * One broker connection that heals itself. Each attempt uses a fresh mqtt.js
 * client with its own reconnect turned off: when the connection drops, the
 * client and its in-memory queue are discarded (their pending callbacks fail),
 * so nothing is re-sent behind the outbox's back. A failure is logged once at
 * warn per outage (again only when its cause changes kind), recovery once at info.
 */
export class BrokerConnection {
  connected = false;
  lastFailure?: ConnectionFailure & { at: number };
  private client?: MqttClient;
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private outageSince?: number;
  private loggedCause?: ConnectionFailure;
  private stopping = false;
  private readonly tlsFiles: Pick<IClientOptions, 'ca' | 'cert' | 'key'>;

  constructor(private readonly opts: ConnectionOptions, private readonly handlers: ConnectionHandlers, private readonly log: Logger) {
    this.tlsFiles = readTlsFiles(opts.tls);
  }

  start(): void {
    this.stopping = false;
    this.open();
  }

  /** Sends when connected; returns false (and never queues) otherwise. `done` runs on PUBACK for QoS 1. */
  publish(topic: string, payload: string, req: PublishRequest, done?: (err?: Error) => void): boolean {
    const client = this.client;
    if (!client || !this.connected) return false;
    const options: IClientPublishOptions = { qos: req.qos, retain: req.retain };
    if (this.opts.protocolVersion === 5 && req.userProperties) options.properties = { userProperties: req.userProperties };
    client.publish(topic, payload, options, (err) => done?.(err ?? undefined));
    return true;
  }

  /** Publishes `last` (retained, QoS 1) if connected, waits briefly for its PUBACK, then disconnects cleanly. */
  async stop(last?: { topic: string; payload: string }, timeoutMs = 2000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    const client = this.client;
    if (!client) return;
    if (!this.connected) {
      // Still connecting: a DISCONNECT would only be queued in memory; drop the attempt.
      client.end(true);
      return;
    }
    if (last) {
      await withTimeout(new Promise<void>((resolve) => this.publish(last.topic, last.payload, { qos: 1, retain: true }, () => resolve())), timeoutMs);
    }
    await withTimeout(new Promise<void>((resolve) => client.end(false, {}, () => resolve())), timeoutMs);
    client.end(true);
  }

  private open(): void {
    const client = mqtt.connect(this.opts.url, this.clientOptions());
    this.client = client;
    let cause: unknown;
    client.on('error', (err) => {
      cause = err;
    });
    client.on('connect', (connack) => {
      this.connected = true;
      this.failures = 0;
      this.lastFailure = undefined;
      this.loggedCause = undefined;
      if (this.outageSince !== undefined) {
        const seconds = Math.round((Date.now() - this.outageSince) / 100) / 10;
        this.log.info({ url: this.opts.url, outage_s: seconds }, `MQTT broker reachable again after ${seconds} s; draining the outbox`);
        this.outageSince = undefined;
      } else this.log.info({ url: this.opts.url, protocol: this.opts.protocolVersion }, 'connected to the MQTT broker');
      this.handlers.onConnect(connack.properties?.receiveMaximum ?? 65535);
    });
    client.on('close', () => this.closed(client, cause));
  }

  private closed(client: MqttClient, cause: unknown): void {
    if (this.client !== client) return;
    const wasConnected = this.connected;
    this.connected = false;
    this.client = undefined;
    // Disconnect first, so the callbacks that end() fails ("Connection closed") already belong to the past;
    // the outbox keeps those alerts.
    if (wasConnected) this.handlers.onDisconnect();
    client.end(true);
    if (this.stopping) return;
    this.failures += 1;
    this.report(describeFailure(cause), wasConnected);
    const delay = this.delay();
    this.timer = setTimeout(() => this.open(), delay);
  }

  private report(failure: ConnectionFailure, wasConnected: boolean): void {
    this.lastFailure = { ...failure, at: Date.now() };
    this.outageSince ??= Date.now();
    const fields = { code: 'E_MQTT', url: this.opts.url, cause: failure.message, retry: `backoff up to ${this.opts.backoff.maxMs} ms` };
    if (sameCause(this.loggedCause, failure)) {
      this.log.debug(fields, 'MQTT connection attempt failed again');
      return;
    }
    this.loggedCause = failure;
    const what = wasConnected ? 'lost the connection to the MQTT broker' : 'cannot connect to the MQTT broker';
    this.log.warn(fields, `${what} at ${this.opts.url}: ${failure.message} — ${hintFor(failure)}; retrying with backoff, alerts wait in the outbox`);
  }

  private delay(): number {
    const { initialMs, maxMs } = this.opts.backoff;
    return retryDelay(this.failures, initialMs, maxMs);
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
      will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: 1, retain: true },
      rejectUnauthorized: o.tls?.rejectUnauthorized ?? true,
      ...this.tlsFiles,
    };
  }
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

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
