import { DAY_MS, MINUTE_MS, dayOf } from '../clock.js';
import type { AggregateStore } from '../store/aggregate-store.js';
import { buildBatch, toWireRow, type Batch, type BatchExtras, type WireRow } from './batch.js';

export interface BatchLimits {
  /** Most camera-minute records in one batch (a minute is never split, so one minute of many cameras may exceed it). */
  maxRows: number;
  /**
   * Most bytes of uncompressed JSON in one batch: its rows and what travels
   * with them (shadow comparisons, the production timeline). Same exception.
   */
  maxBytes: number;
}

/**
 * The next batch after `from` (the end of the previous batch; undefined before
 * the first one), covering records with minute < `ceiling`.
 *
 * A batch never crosses a UTC day: its period runs from `from` (or the start of
 * the first day with records) to the end of that day or `ceiling`, cut earlier
 * at a minute boundary when the limits say so. Days without any record produce
 * no batch. Returns undefined when there is nothing to send.
 */
export function planBatch(store: AggregateStore, meta: { site: string; line: string }, from: number | undefined, ceiling: number, limits: BatchLimits,
  extras?: (start: number, end: number) => BatchExtras): Batch | undefined {
  const first = store.firstMinute(from ?? 0, ceiling);
  if (first === undefined) return undefined;
  let start = from ?? dayOf(first);
  if (first >= dayOf(start) + DAY_MS) start = dayOf(first);
  let end = Math.min(dayOf(start) + DAY_MS, ceiling);

  let records = store.minutes(start, end, limits.maxRows + 1);
  if (records.length > limits.maxRows) {
    // Cut before the minute of the first record over the limit; a single minute too large to fit goes alone.
    const cut = records[limits.maxRows].minute;
    end = cut > records[0].minute ? cut : cut + MINUTE_MS;
    records = cut > records[0].minute ? records.filter((r) => r.minute < cut) : store.minutes(start, end);
  }
  let rows = records.map(toWireRow);
  // What travels with the rows counts against the same budget; cutting the period only shortens it.
  let alongside = extras?.(start, end);
  const cutAt = byteCut(rows, limits.maxBytes - (alongside ? JSON.stringify(alongside).length : 0));
  if (cutAt !== undefined) {
    end = cutAt;
    rows = rows.filter((r) => Date.parse(r.minute) < cutAt);
    alongside = extras?.(start, end); // the timeline of the period as cut
  }
  return buildBatch(meta, start, end, rows, alongside);
}

/** The minute to cut at so the rows stay under `maxBytes` (the first minute goes in whatever its size), or undefined when they already do. */
function byteCut(rows: readonly WireRow[], maxBytes: number): number | undefined {
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    bytes += JSON.stringify(rows[i]).length + 1;
    if (bytes <= maxBytes) continue;
    const minute = Date.parse(rows[i].minute);
    const firstMinute = Date.parse(rows[0].minute);
    return minute > firstMinute ? minute : minute + MINUTE_MS;
  }
  return undefined;
}
