import type { VerdictOutboxItem } from '../store/index.js';
import { verdictBody, type VerdictBody } from '../verdicts/body.js';

export const VERDICT_SCHEMA = 'linesight.verdict/1';

/** The verdict message body, exactly as documented in docs/mqtt.md and docs/verdict.schema.json. */
export type VerdictPayload = { schema: typeof VERDICT_SCHEMA; site: string; line: string } & VerdictBody & { replayed: boolean };

/** Builds the message for one verdict outbox row. */
export function verdictPayload(item: VerdictOutboxItem, ctx: { site: string; line: string }): VerdictPayload {
  return { schema: VERDICT_SCHEMA, site: ctx.site, line: ctx.line, ...verdictBody(item.verdict), replayed: item.replayed };
}
