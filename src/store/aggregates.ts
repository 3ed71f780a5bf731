import { DAY_MS } from '../clock.js';
import type { Db } from './db.js';
import { parseHistogram } from './latency-histogram.js';
import { mergeMinutes, type ClassStats, type MinuteStats } from './minute-stats.js';
import { deleteInChunks } from './chunked-delete.js';

/** `sync_state` entry: minutes before it were uploaded and acknowledged (ms since epoch). Written by the sync ledger. */
export const ACKED_UNTIL = 'acked_until';
/** `sync_state` entry: records before it are packed into upload batches. Written by the sync ledger. */
export const PLANNED_UNTIL = 'planned_until';

interface AggregateRow {
  camera: string;
  minute: number;
  frames_received: number;
  frames_inspected: number;
  frames_dropped: string;
  classes: string;
  latency: string;
  inspect_latency: string;
  fps_sum: number;
  fps_samples: number;
  seconds_online: number;
  provider: string | null;
  frames_inspected_degraded: number;
  seconds_degraded: number;
}

type StoredClass = {
  detections: number; events: number; confidence_sum: number; confidence_max: number;
  /** Present once the class had an operator verdict in the minute (net counts, see ClassStats). */
  confirmed?: number; false_alarms?: number; missed?: number;
};

/** The per-minute statistics table: one row per camera per minute. */
export class AggregatesTable {
  private readonly getOne;
  private readonly upsert;
  private readonly range;
  private readonly first;
  private readonly countFrom;
  private readonly ackedUntil;
  private readonly purgeChunk;
  private readonly plannedUntil;
  private readonly writeTx: { immediate: (rows: readonly MinuteStats[], now: number) => number };

  constructor(private readonly db: Db) {
    this.getOne = db.prepare<[number, string], AggregateRow>('SELECT * FROM aggregates WHERE minute = ? AND camera = ?');
    this.upsert = db.prepare(
      `INSERT OR REPLACE INTO aggregates (camera, minute, frames_received, frames_inspected, frames_dropped, classes, latency,
         inspect_latency, fps_sum, fps_samples, seconds_online, provider, frames_inspected_degraded, seconds_degraded, updated_at)
       VALUES (@camera, @minute, @frames_received, @frames_inspected, @frames_dropped, @classes, @latency,
         @inspect_latency, @fps_sum, @fps_samples, @seconds_online, @provider, @frames_inspected_degraded, @seconds_degraded, @updated_at)`,
    );
    this.range = db.prepare<[number, number, number], AggregateRow>(
      'SELECT * FROM aggregates WHERE minute >= ? AND minute < ? ORDER BY minute, camera LIMIT ?',
    );
    this.first = db.prepare<[number, number], { minute: number | null }>(
      'SELECT MIN(minute) AS minute FROM aggregates WHERE minute >= ? AND minute < ?',
    );
    this.countFrom = db.prepare<[number], { rows: number; minutes: number }>(
      'SELECT COUNT(*) AS rows, COUNT(DISTINCT minute) AS minutes FROM aggregates WHERE minute >= ?',
    );
    this.ackedUntil = db.prepare<[string], { value: string }>('SELECT value FROM sync_state WHERE name = ?');
    this.purgeChunk = db.prepare<[number, number]>(
      `DELETE FROM aggregates WHERE (minute, camera) IN (
         SELECT minute, camera FROM aggregates WHERE minute < ? ORDER BY minute LIMIT ?)`,
    );
    this.plannedUntil = db.prepare<[string], { value: string }>('SELECT value FROM sync_state WHERE name = ?');
    this.writeTx = db.transaction((rows: readonly MinuteStats[], now: number) => {
      const floor = Number(this.plannedUntil.get(PLANNED_UNTIL)?.value ?? Number.NEGATIVE_INFINITY);
      let moved = 0;
      for (const given of rows) {
        // A minute the upload has packed already is sealed: what still comes for it (after the wall
        // clock stepped back) counts in the first minute not packed yet, so it is uploaded, once.
        const row = given.minute < floor ? { ...given, minute: floor } : given;
        if (row !== given) moved++;
        // A minute can be written twice (a restart within it, a late snapshot): the two halves add up.
        const existing = this.getOne.get(row.minute, row.camera);
        this.upsert.run(toRow(existing ? mergeMinutes(fromRow(existing), row) : row, now));
      }
      return moved;
    });
  }

  /**
   * Writes (merging into what is there) every record in ONE transaction. A
   * record whose minute the upload has already packed into a batch (only
   * possible when the wall clock stepped back) is merged into the first minute
   * not packed yet instead: nothing is lost, nothing counted twice, at the cost
   * of its exact minute. Returns how many records were moved so.
   */
  write(rows: readonly MinuteStats[], now = Date.now()): number {
    return rows.length > 0 ? this.writeTx.immediate(rows, now) : 0;
  }

  /** Records with `from ≤ minute < to`, by minute then camera. */
  minutes(from: number, to: number, limit = Number.MAX_SAFE_INTEGER): MinuteStats[] {
    return this.range.all(from, to, limit).map(fromRow);
  }

  /** The earliest minute in [from, before) that has a record. */
  firstMinute(from: number, before: number): number | undefined {
    return this.first.get(from, before)?.minute ?? undefined;
  }

  /** Records (and distinct minutes) at or after `from`. */
  countSince(from: number): { rows: number; minutes: number } {
    return this.countFrom.get(from) ?? { rows: 0, minutes: 0 };
  }

  /** The upload's acknowledged watermark: minutes before it are safely in the cloud (or its files). */
  acknowledgedUntil(): number {
    const row = this.ackedUntil.get(ACKED_UNTIL);
    return row ? Number(row.value) : 0;
  }

  /**
   * Deletes records older than `days`, `chunk` rows per statement, yielding to
   * the event loop between chunks. Records not yet acknowledged by the upload
   * are kept whatever their age (the upload guarantee, docs/architecture.md), unless `keepUnsynced`
   * is false (a box that never uploads).
   */
  async purge(days: number, options: { chunk?: number; now?: number; keepUnsynced?: boolean } = {}): Promise<number> {
    const retention = (options.now ?? Date.now()) - days * DAY_MS;
    const cutoff = options.keepUnsynced === false ? retention : Math.min(retention, this.acknowledgedUntil());
    return deleteInChunks(this.db, this.purgeChunk, cutoff, options.chunk);
  }
}

function toRow(m: MinuteStats, now: number) {
  const classes: Record<string, StoredClass> = {};
  for (const [name, c] of Object.entries(m.classes)) {
    const v = c.verdicts;
    classes[name] = {
      detections: c.detections, events: c.events, confidence_sum: c.confidenceSum, confidence_max: c.confidenceMax,
      ...(v ? { confirmed: v.confirmed, false_alarms: v.falseAlarms, missed: v.missed } : {}),
    };
  }
  return {
    camera: m.camera,
    minute: m.minute,
    frames_received: m.framesReceived,
    frames_inspected: m.framesInspected,
    frames_dropped: JSON.stringify(m.framesDropped),
    classes: JSON.stringify(classes),
    latency: JSON.stringify(m.latency),
    inspect_latency: JSON.stringify(m.inspectLatency),
    fps_sum: m.fpsSum,
    fps_samples: m.fpsSamples,
    seconds_online: m.secondsOnline,
    provider: m.provider,
    frames_inspected_degraded: m.framesInspectedDegraded,
    seconds_degraded: m.secondsDegraded,
    updated_at: now,
  };
}

function fromRow(r: AggregateRow): MinuteStats {
  const classes: Record<string, ClassStats> = {};
  for (const [name, c] of Object.entries(JSON.parse(r.classes) as Record<string, StoredClass>)) {
    const judged = c.confirmed !== undefined || c.false_alarms !== undefined || c.missed !== undefined;
    classes[name] = {
      detections: c.detections, events: c.events, confidenceSum: c.confidence_sum, confidenceMax: c.confidence_max,
      ...(judged ? { verdicts: { confirmed: c.confirmed ?? 0, falseAlarms: c.false_alarms ?? 0, missed: c.missed ?? 0 } } : {}),
    };
  }
  return {
    camera: r.camera,
    minute: r.minute,
    framesReceived: r.frames_received,
    framesInspected: r.frames_inspected,
    framesDropped: JSON.parse(r.frames_dropped) as Record<string, number>,
    classes,
    latency: parseHistogram(r.latency),
    inspectLatency: parseHistogram(r.inspect_latency),
    fpsSum: r.fps_sum,
    fpsSamples: r.fps_samples,
    secondsOnline: r.seconds_online,
    provider: r.provider,
    framesInspectedDegraded: r.frames_inspected_degraded,
    secondsDegraded: r.seconds_degraded,
  };
}
