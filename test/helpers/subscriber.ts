import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface Received {
  topic: string;
  body: Record<string, unknown>;
  retain: boolean;
  qos: number;
  userProperties?: Record<string, string | string[]>;
}

export interface Subscriber {
  client: MqttClient;
  messages: Received[];
  /** Resolves once `predicate(messages)` holds; rejects after `timeoutMs` with what arrived. */
  waitFor(predicate: (messages: Received[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface SubscriberOptions {
  protocolVersion?: 4 | 5;
  /** A fixed client id with a persistent session: the broker queues QoS 1 messages while we are away. */
  sessionId?: string;
  username?: string;
  password?: string;
  ca?: string;
}

/** A real mqtt.js subscriber (QoS 1) that records every message it gets. */
export async function subscribe(url: string, topic: string, options: SubscriberOptions = {}): Promise<Subscriber> {
  const protocolVersion = options.protocolVersion ?? 5;
  const opts: IClientOptions = {
    protocolVersion,
    clientId: options.sessionId ?? `test-sub-${Math.random().toString(16).slice(2)}`,
    clean: options.sessionId === undefined,
    reconnectPeriod: 200,
    connectTimeout: 5000,
    username: options.username,
    password: options.password,
    ...(options.ca ? { ca: readFileSync(options.ca) } : {}),
    ...(protocolVersion === 5 && options.sessionId ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  };
  const client = await mqtt.connectAsync(url, opts);
  const messages: Received[] = [];
  client.on('message', (t, payload, packet) => {
    messages.push({
      topic: t,
      body: JSON.parse(payload.toString('utf8')) as Record<string, unknown>,
      retain: packet.retain,
      qos: packet.qos,
      userProperties: packet.properties?.userProperties,
    });
  });
  client.on('error', () => {}); // reconnects are part of several tests
  await client.subscribeAsync(topic, { qos: 1 });
  return {
    client,
    messages,
    waitFor: (predicate, timeoutMs = 15_000) =>
      new Promise<void>((resolve, reject) => {
        const started = Date.now();
        const tick = () => {
          if (predicate(messages)) return resolve();
          if (Date.now() - started > timeoutMs) {
            // Which topics came (with a state where the body has one) tells what was missing.
            const seen = [...new Set(messages.map((m) => `${m.topic}${typeof m.body?.state === 'string' ? ` (${m.body.state})` : ''}`))];
            return reject(new Error(`timed out after ${timeoutMs} ms with ${messages.length} messages: ${seen.join(', ')}`));
          }
          setTimeout(tick, 25);
        };
        tick();
      }),
    close: async () => {
      await client.endAsync(true);
    },
  };
}
