import { isoTime } from '../clock.js';
import type { Db } from '../store/db.js';

export const SHIFT_SCHEMA = 'linesight.shift/1';

/** Retained on `{prefix}/{site}/{line}/{camera}/shift` (docs/shift.schema.json). */
export interface ShiftSummaryPayload {
  schema: typeof SHIFT_SCHEMA;
  /** UUIDv7 of the summary, fixed when it is made: the same on every restatement. */
  id: string;
  /** When the summary was made (ISO 8601 UTC, ms). */
  ts: string;
  site: string;
  line: string;
  camera: string;
  /** The shift: [start, end), ISO 8601 UTC, ms. */
  shift: { start: string; end: string };
  /** Lowest and highest `seq` of the alerts captured in the shift; null when there were none. */
  first_seq: number | null;
  last_seq: number | null;
  /** Alerts captured in the shift that are in the history, delivered or not. */
  alerts: number;
  /** Of `alerts`, those the outbox bound gave up on: never published (see node status `outbox.dropped`). */
  alerts_lost: number;
  /** Alerts per class. */
  classes: Record<string, number>;
  frames_received: number;
  frames_inspected: number;
  /** Seconds the camera was degraded during the shift (its health checks). */
  seconds_degraded: number;
}

export interface ShiftCounts {
  firstSeq: number | null;
  lastSeq: number | null;
  alerts: number;
  alertsLost: number;
  classes: Record<string, number>;
  framesReceived: number;
  framesInspected: number;
  secondsDegraded: number;
}

/**
 * Counts one camera's shift from what the database holds: alerts by capture
 * time (`ts`) in [start, end), and the per-minute statistics whose minute
 * starts in it (shift boundaries are whole minutes, so no minute straddles one).
 */
export class ShiftCounter {
  private readonly seqs;
  private readonly classes;
  private readonly minutes;

  constructor(db: Db) {
    this.seqs = db.prepare<[string, number, number], { first: number | null; last: number | null; n: number; lost: number | null }>(
      `SELECT MIN(seq) AS first, MAX(seq) AS last, COUNT(*) AS n, SUM(status IN ('dropped', 'rejected')) AS lost
       FROM alerts WHERE camera = ? AND ts >= ? AND ts < ?`,
    );
    this.classes = db.prepare<[string, number, number], { name: string; n: number }>(
      'SELECT class_name AS name, COUNT(*) AS n FROM alerts WHERE camera = ? AND ts >= ? AND ts < ? GROUP BY class_name ORDER BY class_name',
    );
    this.minutes = db.prepare<[string, number, number], { received: number | null; inspected: number | null; degraded: number | null }>(
      `SELECT SUM(frames_received) AS received, SUM(frames_inspected) AS inspected, SUM(seconds_degraded) AS degraded
       FROM aggregates WHERE camera = ? AND minute >= ? AND minute < ?`,
    );
  }

  count(camera: string, start: number, end: number): ShiftCounts {
    const s = this.seqs.get(camera, start, end)!;
    const m = this.minutes.get(camera, start, end)!;
    const classes: Record<string, number> = {};
    for (const row of this.classes.all(camera, start, end)) classes[row.name] = row.n;
    return {
      firstSeq: s.first, lastSeq: s.last, alerts: s.n, alertsLost: s.lost ?? 0, classes,
      framesReceived: m.received ?? 0, framesInspected: m.inspected ?? 0, secondsDegraded: m.degraded ?? 0,
    };
  }
}

/** The payload of one camera's shift. */
export function shiftPayload(
  counts: ShiftCounts,
  where: { id: string; site: string; line: string; camera: string; start: number; end: number },
  now: number,
): ShiftSummaryPayload {
  return {
    schema: SHIFT_SCHEMA,
    id: where.id,
    ts: isoTime(now),
    site: where.site,
    line: where.line,
    camera: where.camera,
    shift: { start: isoTime(where.start), end: isoTime(where.end) },
    first_seq: counts.firstSeq,
    last_seq: counts.lastSeq,
    alerts: counts.alerts,
    alerts_lost: counts.alertsLost,
    classes: counts.classes,
    frames_received: counts.framesReceived,
    frames_inspected: counts.framesInspected,
    seconds_degraded: Math.round(counts.secondsDegraded * 10) / 10,
  };
}
