import { z } from 'zod';
import type { ProductionContext } from '../types.js';

/*
 * The production context message the MES publishes (retained) on
 * `{prefix}/{site}/{line}/context`, also docs/context.schema.json. Strict: a
 * field linesight does not know is an error (a typo such as `lot_id` would
 * otherwise stamp every alert without its lot); plant-specific fields go in `extra`.
 */

const field = (what: string) =>
  z.string({ error: `expected ${what} as a string (or null)` }).max(200, { error: `expected ${what} of at most 200 characters` }).nullable().optional();

const isoTime = z.string({ error: 'expected ts as an ISO 8601 time with a zone, e.g. 2025-03-04T05:06:07.089Z' })
  .check((ctx) => {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(ctx.value) || Number.isNaN(Date.parse(ctx.value))) {
      ctx.issues.push({ code: 'custom', message: 'expected ts as an ISO 8601 time with a zone, e.g. 2025-03-04T05:06:07.089Z', input: ctx.value });
    }
  });

export const contextMessageSchema = z.strictObject({
  order: field('order').describe('Production (work) order number'),
  lot: field('lot').describe('Lot or batch being produced'),
  part_id: field('part_id').describe('Part (material) number'),
  product: field('product').describe('Product or variant name'),
  shift: field('shift').describe('Shift name or number'),
  operator: field('operator').describe('Operator or crew on the line'),
  extra: z.record(z.string(), z.unknown(), { error: 'expected extra as an object' }).optional().describe('Plant-specific fields, stamped as given'),
  ts: isoTime.describe('When this context took effect'),
}, { error: 'expected a JSON object' });

/** Most bytes a context message may have: it is stamped on every alert. */
export const MAX_CONTEXT_BYTES = 8192;

export type ContextParse = { ok: true; context: ProductionContext; ts: number } | { ok: false; fault: string };

/**
 * Reads one context message: UTF-8 JSON, at most 8 KiB, the fields above.
 * The context comes back normalised (`ts` as ISO 8601 UTC with milliseconds,
 * fields in schema order), so the same change always has the same JSON.
 *
 * @example parseContext(Buffer.from('{"lot":"L-1","ts":"2025-03-04T05:06:07Z"}')) // { ok: true, context: { lot: 'L-1', ts: '2025-03-04T05:06:07.000Z' }, ts: 1741064767000 }
 */
export function parseContext(payload: Buffer | string): ContextParse {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  if (Buffer.byteLength(text) > MAX_CONTEXT_BYTES) return { ok: false, fault: `expected at most ${MAX_CONTEXT_BYTES} bytes but received ${Buffer.byteLength(text)}` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, fault: `expected JSON but could not parse it (${(err as Error).message})` };
  }
  const parsed = contextMessageSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    const extraKeys = issue.code === 'unrecognized_keys' ? ` (unknown: ${issue.keys.join(', ')}; plant-specific fields go in "extra")` : '';
    return { ok: false, fault: `${where}${issue.message}${extraKeys}` };
  }
  const ts = Date.parse(parsed.data.ts);
  return { ok: true, context: normalise({ ...parsed.data, ts: new Date(ts).toISOString() }), ts };
}

/** Fields in schema order, absent ones left out: one JSON per change. */
export function normalise(c: ProductionContext): ProductionContext {
  const out: Record<string, unknown> = {};
  for (const key of ['order', 'lot', 'part_id', 'product', 'shift', 'operator', 'extra', 'ts'] as const) {
    if (c[key] !== undefined) out[key] = c[key];
  }
  return out as unknown as ProductionContext;
}
