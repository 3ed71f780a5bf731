import { v7 as uuidv7 } from 'uuid';
import { DAY_MS, type Clock, type Timer } from '../clock.js';
import { errorMessage, isLinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Publisher } from '../publish/index.js';
import { lineTopic, type TopicRoot } from '../publish/topics.js';
import type { Db } from '../store/db.js';
import { boundariesBetween, boundaryAfter, boundaryAtOrBefore, type ShiftPlan } from './shift-clock.js';
import { SHIFT_SCHEMA, ShiftCounter, shiftPayload } from './shift-summary.js';
import { ShiftTable, type StoredShift } from './shift-table.js';

/** What the summaries need of the publisher. */
export type ShiftPublisher = Pick<Publisher, 'publishRaw' | 'onConnect'>;

export interface ShiftDeps {
  db: Db;
  plan: ShiftPlan;
  root: TopicRoot;
  /** Ids of the cameras summarised at each boundary (the configured, enabled ones). */
  cameras: () => readonly string[];
  publisher: ShiftPublisher;
  clock: Clock;
  log: Logger;
  /** Summaries of shifts that ended longer ago are deleted, and a restart after a longer stop does not make them. */
  retentionDays: number;
  /**
   * A shift is summarised this long after its end: by then the statistics of
   * its last minute are written (the aggregator writes a minute 10 s after it
   * ends) and the alerts confirmed on its last frames are recorded. Default 30 000 ms.
   */
  settleMs?: number;
}

/** The longest sleep between two looks at the wall clock: a step of it is noticed within this time. */
const MAX_SLEEP_MS = 60_000;

/** `{prefix}/{site}/{line}/{camera}/shift` */
export function shiftTopic(root: TopicRoot, camera: string): string {
  return lineTopic(root, `${camera}/shift`);
}

/**
 * Per shift and camera, a retained summary for the MES to reconcile against
 * (first and last `seq`, counts per class, frames, seconds degraded). Each
 * boundary's summaries are stored before they are published, so a boundary
 * that passes while the broker is away, or while linesight is stopped, is
 * summarised and published once it can be; the newest summary of every camera
 * is restated at each connection, as the broker may have lost its retained copy.
 *
 * Boundaries are instants of the wall clock. The timer runs on monotonic time,
 * so it never sleeps longer than a minute before it looks at the wall clock
 * again: after a step forward over a boundary the shift is summarised within a
 * minute; after a step back a boundary already summarised is never summarised again.
 */
export class ShiftSummaries {
  private readonly table: ShiftTable;
  private readonly counter: ShiftCounter;
  private readonly settleMs: number;
  private readonly log: Logger;
  private timer: Timer | undefined;
  private offConnect: (() => void) | undefined;
  private failing = false;
  private closed = false;

  constructor(private readonly deps: ShiftDeps) {
    this.table = new ShiftTable(deps.db);
    this.counter = new ShiftCounter(deps.db);
    this.settleMs = deps.settleMs ?? 30_000;
    this.log = deps.log.child({ stage: 'mes' });
  }

  start(): void {
    this.offConnect = this.deps.publisher.onConnect(() => this.restate());
    this.tick();
  }

  close(): void {
    this.closed = true;
    this.offConnect?.();
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Makes and publishes the summaries of every boundary now due; returns how many boundaries it handled. */
  summariseDue(): number {
    const { plan, clock } = this.deps;
    const now = clock.now();
    const upTo = now - this.settleMs;
    const mark = this.table.mark();
    if (mark === undefined) {
      // A new database: the shift that just ended was not watched; start from its end.
      const last = boundaryAtOrBefore(plan, upTo);
      if (last !== undefined) this.table.record(last, [], now);
      return 0;
    }
    const due = boundariesBetween(plan, Math.max(mark, now - this.deps.retentionDays * DAY_MS), upTo);
    for (const end of due) this.summarise(end, now);
    if (due.length > 0) this.table.purge(now - this.deps.retentionDays * DAY_MS);
    return due.length;
  }

  private summarise(end: number, now: number): void {
    const { plan, root } = this.deps;
    const start = boundaryAtOrBefore(plan, end - 1) ?? end;
    const rows = this.deps.cameras().map((camera) => {
      const payload = shiftPayload(this.counter.count(camera, start, end), { id: uuidv7(), site: root.site, line: root.line, camera, start, end }, now);
      return { camera, shiftStart: start, shiftEnd: end, json: JSON.stringify(payload) };
    });
    this.table.record(end, rows, now);
    this.log.info({ shift_start: new Date(start).toISOString(), shift_end: new Date(end).toISOString(), cameras: rows.length }, 'shift summaries made');
    for (const row of rows) this.send({ ...row, sent: false });
  }

  /** On every connection: what the broker has not taken yet, oldest first, then each camera's newest again. */
  private restate(): void {
    if (this.closed) return;
    this.guard('restate the shift summaries', () => {
      const lastSent = new Map<string, StoredShift>();
      for (const s of this.table.unsent()) {
        this.send(s);
        lastSent.set(s.camera, s);
      }
      for (const s of this.table.latest()) {
        if (lastSent.get(s.camera)?.shiftStart !== s.shiftStart) this.send(s);
      }
    });
  }

  private send(s: StoredShift): void {
    const id = (JSON.parse(s.json) as { id: string }).id;
    // Not connected: it stays unsent and goes out at the next connection.
    this.deps.publisher.publishRaw(shiftTopic(this.deps.root, s.camera), s.json, { retain: true, userProperties: { id, schema: SHIFT_SCHEMA } }, (err) => {
      if (err || s.sent || this.closed) return;
      this.guard('mark a shift summary sent', () => this.table.markSent(s.camera, s.shiftStart, this.deps.clock.now()));
    });
  }

  private tick(): void {
    this.timer = undefined;
    if (this.closed) return;
    this.guard('make the shift summaries', () => this.summariseDue());
    const now = this.deps.clock.now();
    const next = boundaryAfter(this.deps.plan, now - this.settleMs);
    if (next === undefined) return;
    const wait = Math.min(MAX_SLEEP_MS, Math.max(0, next + this.settleMs - now));
    this.timer = this.deps.clock.setTimeout(() => this.tick(), wait);
  }

  /** A failing database is logged once per episode; the next tick (within a minute) tries again. */
  private guard(what: string, fn: () => unknown): void {
    try {
      fn();
      if (this.failing) this.log.info('shift summaries stored again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) {
        this.log.warn({ code: isLinesightError(err) ? err.code : 'E_STORE', err: errorMessage(err) }, `could not ${what}: ${errorMessage(err)}; trying again within a minute`);
      }
      this.failing = true;
    }
  }
}
