import type { ModelRef, OutboxItem } from '../store/index.js';
import type { ProductionContext } from '../types.js';

export const ALERT_SCHEMA = 'linesight.alert/1';

/** The alert message body, exactly as documented in docs/mqtt.md and docs/alert.schema.json. */
export interface AlertPayload {
  schema: typeof ALERT_SCHEMA;
  id: string;
  seq: number;
  ts: string;
  site: string;
  line: string;
  camera: string;
  class: string;
  confidence: number;
  box: { x: number; y: number; w: number; h: number };
  frame: { width: number; height: number; ts: string };
  track_id: number;
  model: ModelRef;
  latency_ms: number;
  replayed: boolean;
  /**
   * Present, and false, only on an alert whose SQLite commit failed (a full or
   * failing disk): it is not in the outbox or the alert history, is sent from
   * memory, and is lost if linesight stops before its PUBACK.
   */
  stored?: false;
  /** The production context in force at `ts` (order, lot, …), when the line had one. */
  context?: ProductionContext;
  /** The recipe the confirming frame was inspected under, when recipes are configured. */
  recipe?: string;
}

/** What a payload is built from: an outbox row, or an alert the store could not commit (`stored: false`). */
export type AlertSource = Pick<OutboxItem, 'seq' | 'event' | 'model' | 'replayed'> & { stored?: boolean };

export interface PayloadContext {
  site: string;
  line: string;
  /** Used when the alert was recorded without its model. */
  model: ModelRef;
}

/** ISO 8601 UTC with milliseconds, e.g. `2025-03-04T05:06:07.089Z`. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Builds the message for one outbox row (or unstored alert), `latencyMs` after its capture. */
export function alertPayload(item: AlertSource, ctx: PayloadContext, latencyMs: number): AlertPayload {
  const { event } = item;
  return {
    schema: ALERT_SCHEMA,
    id: event.id,
    seq: item.seq,
    ts: isoTime(event.ts),
    site: ctx.site,
    line: ctx.line,
    camera: event.camera,
    class: event.className,
    confidence: round(event.confidence, 4),
    box: { x: round(event.box.x, 1), y: round(event.box.y, 1), w: round(event.box.w, 1), h: round(event.box.h, 1) },
    frame: { width: event.frame.width, height: event.frame.height, ts: isoTime(event.frame.ts) },
    track_id: event.trackId,
    model: item.model ?? ctx.model,
    latency_ms: Math.max(0, Math.round(latencyMs)),
    replayed: item.replayed,
    ...(item.stored === false ? { stored: false as const } : {}),
    ...(event.context ? { context: event.context } : {}),
    ...(event.recipe === undefined ? {} : { recipe: event.recipe }),
  };
}
