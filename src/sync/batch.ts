import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { isoTime } from '../clock.js';
import { LATENCY_BOUNDS_MS, quantile, type Histogram } from '../store/latency-histogram.js';
import { addVerdictCounts, type MinuteStats, type VerdictCounts } from '../store/minute-stats.js';

/** Name and version of the upload format; any change of shape comes with a new version. */
export const AGGREGATES_SCHEMA = 'linesight.aggregates/1';

/** One upload: every record of one site/line for one period (docs/aggregates.schema.json). */
export interface BatchDocument {
  schema: typeof AGGREGATES_SCHEMA;
  batch_id: string;
  site: string;
  line: string;
  /** [start, end): every record of this box with a minute in it is in this batch, and in no other. */
  period: { start: string; end: string };
  cameras: string[];
  row_count: number;
  latency_bounds_ms: number[];
  rows: WireRow[];
  /** Shadow runs of candidate models in the period: the active model against the candidate (docs/models.md); absent without one. */
  model_comparisons?: unknown[];
  /** The production contexts in force during the period (the one at its start, then each change), as received; absent without any. */
  context_changes?: unknown[];
  /** The recipes applied during the period (the one active at its start, then each switch); absent without recipes. */
  recipe_changes?: unknown[];
}

/** What a batch carries beside its rows, for its period; empty lists are left out of the document. */
export type BatchExtras = Pick<BatchDocument, 'model_comparisons' | 'context_changes' | 'recipe_changes'>;

export interface WireRow {
  camera: string;
  minute: string;
  frames_received: number;
  frames_inspected: number;
  frames_dropped: Record<string, number>;
  fps: number | null;
  seconds_online: number;
  provider: string | null;
  /** Of `frames_inspected`, those inspected while the camera was degraded. */
  frames_inspected_degraded: number;
  /** Seconds of the minute the camera was degraded. */
  seconds_degraded: number;
  detections: number;
  events: number;
  /** Net operator verdicts over all classes; present when a class of the row has verdict counts. */
  confirmed?: number;
  false_alarms?: number;
  missed?: number;
  classes: Record<string, WireClass>;
  latency_ms: WireLatency;
  inspect_latency_ms: WireLatency;
}

export interface WireClass {
  detections: number;
  events: number;
  confidence_mean: number | null;
  confidence_max: number | null;
  /** Net operator verdicts given this minute (a replacement subtracts the verdict it replaces); present once the class had one. */
  confirmed?: number;
  false_alarms?: number;
  missed?: number;
}

export interface WireLatency {
  count: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  max: number | null;
  buckets: number[];
}

/** A batch ready to send: the exact bytes, and what they cover. */
export interface Batch {
  key: string;
  periodStart: number;
  periodEnd: number;
  cameras: string[];
  rowCount: number;
  /** gzip of the JSON document plus a newline: the HTTP body and the content of a file in `sync.dir`. */
  body: Buffer;
}

/**
 * The batch's idempotency key (also its `batch_id`): SHA-256 over the schema,
 * site, line, sorted camera set and period. It depends on nothing else, so the
 * same batch gets the same key after a restart, and even if it were rebuilt
 * from the same records; periods of one box never overlap, so two different
 * batches never share one.
 */
export function idempotencyKey(site: string, line: string, cameras: readonly string[], periodStart: number, periodEnd: number): string {
  const canonical = [AGGREGATES_SCHEMA, site, line, [...cameras].sort().join(','), isoTime(periodStart), isoTime(periodEnd)].join('\n');
  return createHash('sha256').update(canonical).digest('hex');
}

export function toWireRow(m: MinuteStats): WireRow {
  const classes: Record<string, WireClass> = {};
  let detections = 0;
  let events = 0;
  let verdicts: VerdictCounts | undefined;
  for (const name of Object.keys(m.classes).sort()) {
    const c = m.classes[name];
    detections += c.detections;
    events += c.events;
    verdicts = addVerdictCounts(verdicts, c.verdicts);
    classes[name] = {
      detections: c.detections,
      events: c.events,
      confidence_mean: c.detections > 0 ? round(c.confidenceSum / c.detections, 4) : null,
      confidence_max: c.detections > 0 ? round(c.confidenceMax, 4) : null,
      ...wireVerdicts(c.verdicts),
    };
  }
  const dropped: Record<string, number> = {};
  for (const reason of Object.keys(m.framesDropped).sort()) dropped[reason] = m.framesDropped[reason];
  return {
    camera: m.camera,
    minute: isoTime(m.minute),
    frames_received: m.framesReceived,
    frames_inspected: m.framesInspected,
    frames_dropped: dropped,
    fps: m.fpsSamples > 0 ? round(m.fpsSum / m.fpsSamples, 2) : null,
    seconds_online: round(Math.min(60, m.secondsOnline), 3),
    provider: m.provider,
    frames_inspected_degraded: m.framesInspectedDegraded,
    seconds_degraded: round(Math.min(60, m.secondsDegraded), 3),
    detections,
    events,
    ...wireVerdicts(verdicts),
    classes,
    latency_ms: toWireLatency(m.latency),
    inspect_latency_ms: toWireLatency(m.inspectLatency),
  };
}

function wireVerdicts(v: VerdictCounts | undefined): { confirmed?: number; false_alarms?: number; missed?: number } {
  return v ? { confirmed: v.confirmed, false_alarms: v.falseAlarms, missed: v.missed } : {};
}

export function toWireLatency(h: Histogram): WireLatency {
  const q = (p: number) => {
    const v = quantile(h, p);
    return v === null ? null : round(v, 1);
  };
  return {
    count: h.count,
    mean: h.count > 0 ? round(h.sum / h.count, 1) : null,
    p50: q(0.5),
    p95: q(0.95),
    max: h.count > 0 ? round(h.max, 1) : null,
    buckets: [...h.buckets],
  };
}

/** Builds the document and its bytes. `rows` must be the period's records, ordered by minute then camera. */
export function buildBatch(meta: { site: string; line: string }, periodStart: number, periodEnd: number, rows: readonly WireRow[], extras: BatchExtras = {}): Batch {
  const cameras = [...new Set(rows.map((r) => r.camera))].sort();
  const key = idempotencyKey(meta.site, meta.line, cameras, periodStart, periodEnd);
  const doc: BatchDocument = {
    schema: AGGREGATES_SCHEMA,
    batch_id: key,
    site: meta.site,
    line: meta.line,
    period: { start: isoTime(periodStart), end: isoTime(periodEnd) },
    cameras,
    row_count: rows.length,
    latency_bounds_ms: [...LATENCY_BOUNDS_MS],
    rows: [...rows],
  };
  for (const key of ['model_comparisons', 'context_changes', 'recipe_changes'] as const) {
    const list = extras[key];
    if (list && list.length > 0) doc[key] = [...list];
  }
  // gzip output depends only on its input (mtime 0 in the header), so the same document gives the same bytes.
  const body = gzipSync(`${JSON.stringify(doc)}\n`);
  return { key, periodStart, periodEnd, cameras, rowCount: rows.length, body };
}

function round(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}
