import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { VerdictOutbox, VerdictOutboxItem } from '../store/index.js';
import type { BrokerConnection } from './client.js';
import { OutboxDrain, type ItemLabels } from './outbox-drain.js';
import { verdictTopic, type TopicRoot } from './topics.js';
import { VERDICT_SCHEMA, verdictPayload } from './verdict-payload.js';

const VERDICT_LABELS: ItemLabels<VerdictOutboxItem> = {
  kind: 'verdicts',
  of: (item) => ({ camera: item.verdict.camera, what: `verdict ${item.verdict.id} (${item.verdict.verdict})`, fields: { id: item.verdict.id } }),
};

/**
 * Verdicts come at an operator's pace and a replacement must reach the MES
 * after the verdict it replaces: one in flight at a time, taken from the
 * alerts' share of the broker's Receive Maximum while that share has more than one.
 */
export function splitForVerdicts(outboxShare: number): { outbox: number; verdicts: number } {
  return { outbox: Math.max(1, outboxShare - 1), verdicts: 1 };
}

/**
 * The drain of the verdict outbox: the alert outbox's drain over the verdicts
 * table, publishing each verdict on `{camera}/verdict`, QoS 1, never retained,
 * with no Message Expiry Interval (MQTT 5 §3.3.2.3.3) so it never expires,
 * and the MQTT 5 user properties `id` and `schema` as alerts carry them.
 */
export function verdictDrain(
  connection: () => BrokerConnection,
  outbox: VerdictOutbox,
  ctx: { root: TopicRoot; site: string; line: string; retryMs: number; clock: Clock },
  log: Logger,
): OutboxDrain<VerdictOutboxItem> {
  const send = (item: VerdictOutboxItem, done: (err?: Error) => void): boolean => {
    const payload = JSON.stringify(verdictPayload(item, ctx));
    const userProperties = { id: item.verdict.id, schema: VERDICT_SCHEMA };
    return connection().publish(verdictTopic(ctx.root, item.verdict.camera), payload, { qos: 1, retain: false, userProperties }, done);
  };
  return new OutboxDrain(outbox, send, { maxInflight: 1, retryMs: ctx.retryMs, clock: ctx.clock, labels: VERDICT_LABELS }, log);
}
