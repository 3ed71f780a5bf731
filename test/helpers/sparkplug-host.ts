import mqtt, { type MqttClient } from 'mqtt';
import { get } from 'sparkplug-payload';

/**
 * A test Sparkplug B host application: a real mqtt.js client subscribed to a
 * group's namespace, decoding every message with the sparkplug-payload codec,
 * that can publish its own STATE and send NCMDs.
 */

const codec = get('spBv1.0')!;

export interface HostMetric {
  name: string;
  type: string;
  value: number | boolean | string | null;
  timestamp?: number;
  isHistorical?: boolean;
}

export interface HostMessage {
  topic: string;
  /** NBIRTH, DBIRTH, DDATA, NDEATH… */
  type: string;
  node: string;
  device?: string;
  timestamp: number;
  seq?: number;
  metrics: HostMetric[];
  retain: boolean;
  qos: number;
}

export interface SparkplugHost {
  messages: HostMessage[];
  of(type: string, device?: string): HostMessage[];
  /** Resolves with the first message matching `predicate` at index ≥ `from`; rejects after `timeoutMs`. */
  next(predicate: (m: HostMessage) => boolean, options?: { from?: number; timeoutMs?: number }): Promise<HostMessage>;
  /** Publishes this host's STATE (retained, QoS 1) as Sparkplug 3.0 does. */
  state(hostId: string, online: boolean, timestamp?: number): Promise<void>;
  /** Asks the edge node for a rebirth (NCMD, `Node Control/Rebirth` true). */
  rebirth(node: string): Promise<void>;
  /** Publishes raw bytes on a topic (malformed commands). */
  raw(topic: string, payload: Buffer | string): Promise<void>;
  close(): Promise<void>;
}

/** The value of `name` in `m`. */
export function metric(m: HostMessage, name: string): HostMetric | undefined {
  return m.metrics.find((x) => x.name === name);
}

function toNumber(v: unknown): unknown {
  // Int64 values and timestamps come back as Long.
  if (v !== null && typeof v === 'object' && 'toNumber' in v && typeof (v as { toNumber: unknown }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return v;
}

/**
 * `sessionId`: a persistent session, so that what the edge node publishes
 * while the host is away (a broker restart) waits for it (with
 * `queue_qos0_messages` for Sparkplug's QoS 0 messages).
 */
export async function sparkplugHost(url: string, group: string, options: { sessionId?: string } = {}): Promise<SparkplugHost> {
  const client: MqttClient = await mqtt.connectAsync(url, {
    protocolVersion: 5, clientId: options.sessionId ?? `test-host-${Math.random().toString(16).slice(2)}`, clean: options.sessionId === undefined,
    reconnectPeriod: 200, connectTimeout: 5000, ...(options.sessionId ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });
  client.on('error', () => {}); // broker restarts are part of the tests
  const messages: HostMessage[] = [];
  client.on('message', (topic, payload, packet) => {
    const parts = topic.split('/');
    let decoded: ReturnType<typeof codec.decodePayload>;
    try {
      decoded = codec.decodePayload(payload);
    } catch {
      return; // the malformed commands a test sends itself
    }
    messages.push({
      topic, type: parts[2], node: parts[3], device: parts[4],
      timestamp: toNumber(decoded.timestamp) as number,
      seq: decoded.seq === undefined || decoded.seq === null ? undefined : (toNumber(decoded.seq) as number),
      metrics: (decoded.metrics ?? []).map((m) => ({
        name: m.name ?? '', type: m.type, value: toNumber(m.value) as HostMetric['value'],
        ...(m.timestamp === undefined || m.timestamp === null ? {} : { timestamp: toNumber(m.timestamp) as number }),
        ...(m.isHistorical ? { isHistorical: true } : {}),
      })),
      retain: packet.retain, qos: packet.qos,
    });
  });
  await client.subscribeAsync(`spBv1.0/${group}/#`, { qos: 1 });
  const publish = async (topic: string, payload: Buffer | string, retain = false) => {
    await client.publishAsync(topic, payload, { qos: 1, retain });
  };
  return {
    messages,
    of: (type, device) => messages.filter((m) => m.type === type && (device === undefined || m.device === device)),
    next: (predicate, options = {}) => new Promise<HostMessage>((resolve, reject) => {
      const started = Date.now();
      const timeoutMs = options.timeoutMs ?? 15_000;
      const tick = () => {
        const found = messages.slice(options.from ?? 0).find(predicate);
        if (found) return resolve(found);
        if (Date.now() - started > timeoutMs) {
          const seen = messages.map((m) => `${m.type}${m.device ? `/${m.device}` : ''}`).join(', ');
          return reject(new Error(`timed out after ${timeoutMs} ms; the host saw: ${seen || 'nothing'}`));
        }
        setTimeout(tick, 25);
      };
      tick();
    }),
    state: (hostId, online, timestamp = Date.now()) => publish(`spBv1.0/STATE/${hostId}`, JSON.stringify({ online, timestamp }), true),
    rebirth: (node) => publish(`spBv1.0/${group}/NCMD/${node}`, Buffer.from(codec.encodePayload({
      timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }],
    }))),
    raw: (topic, payload) => publish(topic, payload),
    close: async () => {
      await client.endAsync(true);
    },
  };
}

/**
 * The `seq` of every message after an NBIRTH, up to the next NBIRTH or
 * NDEATH, grouped per birth: each group must count 0, 1, 2… modulo 256.
 */
export function seqRuns(messages: readonly HostMessage[]): number[][] {
  const runs: number[][] = [];
  for (const m of messages) {
    if (m.type === 'NBIRTH') runs.push([m.seq as number]);
    else if (m.type === 'NDEATH' || m.type === 'NCMD' || m.type === 'DCMD') continue;
    else runs.at(-1)?.push(m.seq as number);
  }
  return runs;
}
