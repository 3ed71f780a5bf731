import type { LedgerAlert } from '../store/sparkplug-ledger.js';
import type { CameraSnapshot, DropReason } from '../types.js';

/**
 * The metrics linesight publishes as a Sparkplug edge node, as pure functions of
 * what the line knows. Names are flat paths (`health/state`, `defect/box/x`):
 * Ignition and HiveMQ show each `/` as a folder, and no Template definition is
 * needed. Every name a DATA message can carry is declared in the BIRTH before
 * it (Sparkplug B 3.0 §6.4.7), so the sets below never depend on the values.
 */

/** The Sparkplug datatypes linesight uses (names as the sparkplug-payload codec spells them). */
export type MetricType = 'Int32' | 'Int64' | 'Float' | 'Double' | 'Boolean' | 'String';
export type MetricValue = number | boolean | string | null;

export interface Metric {
  name: string;
  type: MetricType;
  /** null is sent as `is_null`. */
  value: MetricValue;
  /** ms since epoch; absent: the payload's timestamp applies. */
  timestamp?: number;
  /** The value belongs to the past: history, not the tag's current value. */
  isHistorical?: boolean;
}

export const BDSEQ = 'bdSeq';
export const REBIRTH = 'Node Control/Rebirth';

/** What the node-level metrics are made of. */
export interface NodeFacts {
  version: string;
  model: { name: string; version: string; provider: string };
  /** Name of the active recipe; undefined when the line has none. */
  recipe?: string;
  /** Alerts waiting in the JSON contract's outbox. */
  outboxDepth: number;
  /** The store's state (ok, full, failing); undefined when unknown. */
  storeState?: string;
}

/** The node's metrics that can change (NDATA); the birth adds bdSeq and the rebirth control. */
export function nodeMetrics(f: NodeFacts): Metric[] {
  return [
    { name: 'version', type: 'String', value: f.version },
    { name: 'model/name', type: 'String', value: f.model.name },
    { name: 'model/version', type: 'String', value: f.model.version },
    { name: 'model/provider', type: 'String', value: f.model.provider },
    { name: 'recipe/name', type: 'String', value: f.recipe ?? null },
    { name: 'store/outbox_depth', type: 'Int64', value: f.outboxDepth },
    { name: 'store/state', type: 'String', value: f.storeState ?? null },
  ];
}

/** NBIRTH: bdSeq (Int64, §6.4.2), the rebirth control (§6.4.4, false), then every node metric. */
export function nodeBirthMetrics(bdSeq: number, f: NodeFacts): Metric[] {
  return [{ name: BDSEQ, type: 'Int64', value: bdSeq }, { name: REBIRTH, type: 'Boolean', value: false }, ...nodeMetrics(f)];
}

const DROP_REASONS: readonly DropReason[] = ['superseded', 'bad_frame', 'inference_error', 'shutdown'];

/** A camera's status metrics: state, health, rate, coverage, model. Sent in DDATA when they change. */
export function deviceMetrics(s: CameraSnapshot, model: { name: string; version: string }): Metric[] {
  const dropped = DROP_REASONS.reduce((sum, r) => sum + (s.framesDropped[r] ?? 0), 0);
  return [
    { name: 'state', type: 'String', value: s.state },
    { name: 'health/state', type: 'String', value: s.health?.state ?? null },
    { name: 'health/reasons', type: 'String', value: s.health ? s.health.reasons.join(',') : null },
    // One decimal: the measured rate wobbles in its last digits, and each wobble would be a DDATA.
    { name: 'fps', type: 'Float', value: Math.round(s.fps * 10) / 10 },
    { name: 'coverage/frames_received', type: 'Int64', value: s.framesReceived },
    { name: 'coverage/frames_inspected', type: 'Int64', value: s.framesInspected },
    { name: 'coverage/frames_dropped', type: 'Int64', value: dropped },
    ...DROP_REASONS.map((r): Metric => ({ name: `coverage/frames_dropped/${r}`, type: 'Int64', value: s.framesDropped[r] ?? 0 })),
    { name: 'model/name', type: 'String', value: model.name },
    { name: 'model/version', type: 'String', value: model.version },
  ];
}

export function countMetric(className: string, count: number): Metric {
  return { name: `alerts/${className}`, type: 'Int64', value: count };
}

/** The alert counts of a camera, one metric per class (classes without alerts count 0), sorted by class. */
export function countMetrics(classes: Iterable<string>, counts: ReadonlyMap<string, number> | undefined): Metric[] {
  return [...new Set(classes)].sort().map((c) => countMetric(c, counts?.get(c) ?? 0));
}

/**
 * One defect (an alert of the history) as metrics, each stamped with the
 * alert's capture time; `historical` when it was recorded while the edge node
 * was offline. Without an alert (a DBIRTH before the camera's first), every
 * value is null so the names are declared.
 */
export function defectMetrics(alert: LedgerAlert['alert'] | undefined, historical = false): Metric[] {
  const a = alert;
  const stamp = a ? { timestamp: a.ts, ...(historical ? { isHistorical: true } : {}) } : {};
  // Doubles, rounded as the JSON alert rounds them: both contracts carry the same numbers.
  const metrics: Metric[] = [
    { name: 'defect/id', type: 'String', value: a?.id ?? null },
    { name: 'defect/seq', type: 'Int64', value: a?.seq ?? null },
    { name: 'defect/class', type: 'String', value: a?.className ?? null },
    { name: 'defect/confidence', type: 'Double', value: a ? round(a.confidence, 4) : null },
    { name: 'defect/box/x', type: 'Double', value: a ? round(a.box.x, 1) : null },
    { name: 'defect/box/y', type: 'Double', value: a ? round(a.box.y, 1) : null },
    { name: 'defect/box/w', type: 'Double', value: a ? round(a.box.w, 1) : null },
    { name: 'defect/box/h', type: 'Double', value: a ? round(a.box.h, 1) : null },
    { name: 'defect/frame/width', type: 'Int32', value: a?.frame.width ?? null },
    { name: 'defect/frame/height', type: 'Int32', value: a?.frame.height ?? null },
  ];
  return metrics.map((m) => ({ ...m, ...stamp }));
}

/** The metrics of `next` whose value differs from the one last sent (`sent`), which is updated to match. */
export function changedMetrics(sent: Map<string, MetricValue>, next: readonly Metric[]): Metric[] {
  const out: Metric[] = [];
  for (const m of next) {
    if (sent.has(m.name) && sent.get(m.name) === m.value) continue;
    sent.set(m.name, m.value);
    out.push(m);
  }
  return out;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
