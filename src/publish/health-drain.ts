import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { HealthOutbox, HealthOutboxItem } from '../store/index.js';
import type { BrokerConnection } from './client.js';
import { HEALTH_SCHEMA, healthPayload } from './health-payload.js';
import { OutboxDrain, type ItemLabels } from './outbox-drain.js';
import { healthTopic, type TopicRoot } from './topics.js';

const HEALTH_LABELS: ItemLabels<HealthOutboxItem> = {
  kind: 'health events',
  of: (item) => ({ camera: item.event.camera, what: `health event ${item.event.id} (${item.event.state})`, fields: { id: item.event.id } }),
};

/**
 * Health changes are rare (a few an hour at most) and their order matters to a
 * reader of the state: one in flight at a time, taken from the alerts' share of
 * the broker's Receive Maximum while that share has more than one.
 */
export function splitForHealth(outboxShare: number): { outbox: number; health: number } {
  return { outbox: Math.max(1, outboxShare - 1), health: 1 };
}

/**
 * The drain of the health outbox: the alert outbox's drain over the health
 * table, publishing each change on `{camera}/health`, QoS 1, never retained,
 * with no Message Expiry Interval (MQTT 5 §3.3.2.3.3) so it never expires,
 * and the MQTT 5 user properties `id` and `schema` as alerts carry them.
 */
export function healthDrain(
  connection: () => BrokerConnection,
  outbox: HealthOutbox,
  ctx: { root: TopicRoot; site: string; line: string; retryMs: number; clock: Clock },
  log: Logger,
): OutboxDrain<HealthOutboxItem> {
  const send = (item: HealthOutboxItem, done: (err?: Error) => void): boolean => {
    const payload = JSON.stringify(healthPayload(item, ctx));
    const userProperties = { id: item.event.id, schema: HEALTH_SCHEMA };
    return connection().publish(healthTopic(ctx.root, item.event.camera), payload, { qos: 1, retain: false, userProperties }, done);
  };
  return new OutboxDrain(outbox, send, { maxInflight: 1, retryMs: ctx.retryMs, clock: ctx.clock, labels: HEALTH_LABELS }, log);
}
