import type { HealthReason, HealthStateName, HealthValues } from '../health/types.js';
import type { HealthOutboxItem } from '../store/index.js';
import type { ProductionContext } from '../types.js';
import { isoTime } from './payload.js';

export const HEALTH_SCHEMA = 'linesight.health/1';

/** The measures that decided a change, snake_case; null where the check has no value (yet). */
export interface HealthValuesPayload {
  brightness: number | null;
  contrast: number | null;
  sharpness: number | null;
  /** The learned sharpness; null while it is being learned. */
  sharpness_baseline: number | null;
  change: number | null;
  still_seconds: number | null;
  /** Offset of the scene against the learned reference, source-frame pixels; null before a reference exists. */
  shift_px: number | null;
  shift_fraction: number | null;
}

/** The health message body, exactly as documented in docs/mqtt.md and docs/health.schema.json. */
export interface HealthPayload {
  schema: typeof HEALTH_SCHEMA;
  id: string;
  /** When the new state began. */
  ts: string;
  site: string;
  line: string;
  camera: string;
  state: HealthStateName;
  reasons: HealthReason[];
  values: HealthValuesPayload;
  replayed: boolean;
  /** The production context in force when the new state began, when the line had one. */
  context?: ProductionContext;
}

/** Six significant digits: the measures live on very different scales (0–1 shares, Laplacian variances, pixels). */
function measure(v: number | undefined): number | null {
  return v === undefined || !Number.isFinite(v) ? null : Number(v.toPrecision(6));
}

export function healthValuesPayload(v: HealthValues): HealthValuesPayload {
  return {
    brightness: measure(v.brightness),
    contrast: measure(v.contrast),
    sharpness: measure(v.sharpness),
    sharpness_baseline: measure(v.sharpnessBaseline),
    change: measure(v.change),
    still_seconds: measure(v.stillSeconds),
    shift_px: measure(v.shiftPx),
    shift_fraction: measure(v.shiftFraction),
  };
}

/** Builds the message for one health outbox row. */
export function healthPayload(item: HealthOutboxItem, ctx: { site: string; line: string }): HealthPayload {
  const e = item.event;
  return {
    schema: HEALTH_SCHEMA,
    id: e.id,
    ts: isoTime(e.since),
    site: ctx.site,
    line: ctx.line,
    camera: e.camera,
    state: e.state,
    reasons: [...e.reasons],
    values: healthValuesPayload(e.values),
    replayed: item.replayed,
    ...(e.context ? { context: e.context } : {}),
  };
}
