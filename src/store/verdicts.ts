import { DAY_MS, isoTime } from '../clock.js';
import { verdictRefusal } from '../verdicts/refusal.js';
import type { Db } from './db.js';
import { deleteInChunks } from './chunked-delete.js';
import type { ProductionContext } from '../types.js';
import type { AlertVerdictInput, JudgedAlert, Verdict, VerdictOutbox, VerdictOutboxItem, WithdrawInput } from './types.js';

interface VerdictRow {
  pos: number;
  json: string;
  created_at: number;
  replayed: number;
}

interface AlertFacts {
  camera: string;
  class_name: string;
  box_x: number;
  box_y: number;
  box_w: number;
  box_h: number;
  frame_width: number;
  frame_height: number;
  frame_ts: number;
  /** The production context stamped on the alert (JSON), if any. */
  context: string | null;
}

/**
 * The missed defects that stand, as a condition on the verdicts table: a
 * missed defect neither withdrawn nor a withdrawal itself (a withdrawal is the
 * only missed verdict that replaces another). For the dataset and the model
 * comparison, which take missed defects as ground truth.
 */
export const STANDING_MISSED = "verdict = 'missed' AND replaces IS NULL AND id NOT IN (SELECT replaces FROM verdicts WHERE verdict = 'missed' AND replaces IS NOT NULL)";

/** Alerts looked up per statement when the overlay lists recent alerts with their verdicts. */
const LOOKUP_CHUNK = 200;

/**
 * Operator verdicts: the history and the outbox in one table (unsent while
 * `sent_at` is NULL), as health events. A replaced verdict stays in the
 * history; the newest row of an alert is its current verdict.
 */
export class VerdictsTable implements VerdictOutbox {
  private readonly insert;
  private readonly alertFacts;
  private readonly current;
  private readonly byId;
  private readonly successor;
  private readonly lastMissed;
  private readonly pending;
  private readonly markOne;
  private readonly replayAll;
  private readonly countAll;
  private readonly countCamera;
  private readonly purgeChunk;
  private readonly judgeTx: { immediate: (input: AlertVerdictInput, now: number) => JudgedAlert };
  private readonly withdrawTx: { immediate: (input: WithdrawInput, now: number) => Verdict };
  private readonly sentTx: (ids: readonly number[], at: number) => number;

  constructor(private readonly db: Db) {
    this.insert = db.prepare<[string, string | null, string, string, string, number, string | null, string, number]>(
      'INSERT INTO verdicts (id, alert_id, camera, verdict, class_name, ts, replaces, json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.alertFacts = db.prepare<[string], AlertFacts>(
      "SELECT camera, class_name, box_x, box_y, box_w, box_h, frame_width, frame_height, frame_ts, json_extract(json, '$.context') AS context FROM alerts WHERE id = ?",
    );
    this.current = db.prepare<[string], VerdictRow>(
      'SELECT pos, json, created_at, replayed FROM verdicts WHERE alert_id = ? ORDER BY pos DESC LIMIT 1',
    );
    this.byId = db.prepare<[string], VerdictRow>('SELECT pos, json, created_at, replayed FROM verdicts WHERE id = ?');
    this.successor = db.prepare<[string], { id: string; operator: string; ts: number }>(
      "SELECT id, json_extract(json, '$.operator') AS operator, ts FROM verdicts WHERE replaces = ? ORDER BY pos LIMIT 1",
    );
    this.lastMissed = db.prepare<[number], VerdictRow>(
      "SELECT pos, json, created_at, replayed FROM verdicts WHERE verdict = 'missed' ORDER BY pos DESC LIMIT ?",
    );
    this.pending = db.prepare<[number, number], VerdictRow>(
      'SELECT pos, json, created_at, replayed FROM verdicts WHERE sent_at IS NULL AND pos > ? ORDER BY pos LIMIT ?',
    );
    this.markOne = db.prepare<[number, number]>('UPDATE verdicts SET sent_at = ? WHERE pos = ? AND sent_at IS NULL');
    this.replayAll = db.prepare('UPDATE verdicts SET replayed = 1 WHERE sent_at IS NULL AND replayed = 0');
    this.countAll = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM verdicts WHERE sent_at IS NULL');
    this.countCamera = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM verdicts WHERE sent_at IS NULL AND camera = ?');
    // An unsent verdict outranks retention, as an unsent alert does.
    this.purgeChunk = db.prepare<[number, number]>(
      'DELETE FROM verdicts WHERE pos IN (SELECT pos FROM verdicts WHERE ts < ? AND sent_at IS NOT NULL LIMIT ?)',
    );
    // better-sqlite3 runs it as BEGIN IMMEDIATE: the check of the current verdict and the insert see the same database.
    this.judgeTx = db.transaction((input: AlertVerdictInput, now: number) => this.judge(input, now));
    this.withdrawTx = db.transaction((input: WithdrawInput, now: number) => this.withdraw(input, now));
    this.sentTx = db.transaction((ids: readonly number[], at: number) => ids.reduce((n, id) => n + this.markOne.run(at, id).changes, 0));
  }

  judgeAlert(input: AlertVerdictInput, now: number): JudgedAlert {
    return this.judgeTx.immediate(input, now);
  }

  recordMissed(verdict: Verdict, now: number): void {
    this.write(verdict, now);
  }

  withdrawMissed(input: WithdrawInput, now: number): Verdict {
    return this.withdrawTx.immediate(input, now);
  }

  recentMissed(limit: number): Verdict[] {
    return this.lastMissed.all(limit).map(parse).reverse();
  }

  latestVerdicts(alertIds: readonly string[]): Map<string, Verdict> {
    const out = new Map<string, Verdict>();
    for (let i = 0; i < alertIds.length; i += LOOKUP_CHUNK) {
      const chunk = alertIds.slice(i, i + LOOKUP_CHUNK);
      const rows = this.db.prepare<string[], VerdictRow>(
        `SELECT v.pos, v.json, v.created_at, v.replayed FROM verdicts v
         WHERE v.pos IN (SELECT MAX(pos) FROM verdicts WHERE alert_id IN (${chunk.map(() => '?').join(', ')}) GROUP BY alert_id)`,
      ).all(...chunk);
      for (const row of rows) {
        const v = parse(row);
        if (v.alertId !== null) out.set(v.alertId, v);
      }
    }
    return out;
  }

  pendingBatch(limit: number, afterId = 0): VerdictOutboxItem[] {
    return this.pending.all(afterId, limit).map((r) => ({ id: r.pos, verdict: parse(r), createdAt: r.created_at, replayed: r.replayed === 1 }));
  }

  markSent(ids: readonly number[], at = Date.now()): number {
    return ids.length === 0 ? 0 : this.sentTx(ids, at);
  }

  markAllReplayed(): number {
    return this.replayAll.run().changes;
  }

  depth(camera?: string): number {
    return (camera === undefined ? this.countAll.get() : this.countCamera.get(camera))?.n ?? 0;
  }

  /** Deletes sent verdicts given more than `days` ago, `chunk` rows per statement, yielding between chunks. */
  async purgeOlderThan(days: number, options: { chunk?: number; now?: number } = {}): Promise<number> {
    const cutoff = (options.now ?? Date.now()) - days * DAY_MS;
    return deleteInChunks(this.db, this.purgeChunk, cutoff, options.chunk);
  }

  private judge(input: AlertVerdictInput, now: number): JudgedAlert {
    const alert = this.alertFacts.get(input.alertId);
    if (!alert) throw verdictRefusal('unknown_alert', `Expected the id of a stored alert but received ${JSON.stringify(input.alertId)}: no such alert (never raised, or removed by retention)`);
    const row = this.current.get(input.alertId);
    const existing = row && parse(row);
    if (existing && !input.replace) {
      throw verdictRefusal('already_judged',
        `Expected an alert without a verdict (or "replace": true) but alert ${input.alertId} is already judged ${existing.verdict} by ${JSON.stringify(existing.operator)}`,
        { current: { id: existing.id, verdict: existing.verdict, operator: existing.operator, ts: isoTime(existing.ts) } });
    }
    const verdict: Verdict = {
      id: input.id,
      alertId: input.alertId,
      camera: alert.camera,
      verdict: input.verdict,
      className: alert.class_name,
      box: { x: alert.box_x, y: alert.box_y, w: alert.box_w, h: alert.box_h },
      frame: { width: alert.frame_width, height: alert.frame_height, ts: alert.frame_ts },
      operator: input.operator,
      ts: input.ts,
      ...(existing ? { replaces: existing.id } : {}),
      // The verdict is on the alert's frame: the context the alert carries.
      ...(alert.context === null ? {} : { context: JSON.parse(alert.context) as ProductionContext }),
    };
    this.write(verdict, now);
    return existing ? { verdict, superseded: existing } : { verdict };
  }

  private withdraw(input: WithdrawInput, now: number): Verdict {
    const row = this.byId.get(input.verdictId);
    if (!row) throw verdictRefusal('unknown_verdict', `Expected the id of a stored missed defect but received ${JSON.stringify(input.verdictId)}: no such verdict (never given, or removed by retention)`);
    const missed = parse(row);
    if (missed.alertId !== null) {
      throw verdictRefusal('bad_request',
        `Expected the id of a missed defect but ${input.verdictId} is a verdict on alert ${missed.alertId}: change that with POST /api/alerts/${missed.alertId}/verdict and "replace": true`);
    }
    if (missed.withdrawn) throw verdictRefusal('bad_request', `Expected the id of a missed defect but ${input.verdictId} is itself the withdrawal of ${String(missed.replaces)}`);
    const later = this.successor.get(input.verdictId);
    if (later) {
      throw verdictRefusal('already_withdrawn', `Expected a missed defect that stands but ${input.verdictId} was already withdrawn by ${JSON.stringify(later.operator)}`,
        { current: { id: later.id, operator: later.operator, ts: isoTime(later.ts) } });
    }
    const withdrawal: Verdict = {
      ...missed, id: input.id, operator: input.operator, ts: input.ts, replaces: missed.id, withdrawn: true,
    };
    this.write(withdrawal, now);
    return withdrawal;
  }

  private write(v: Verdict, now: number): void {
    this.insert.run(v.id, v.alertId, v.camera, v.verdict, v.className, v.ts, v.replaces ?? null, JSON.stringify(v), now);
  }
}

function parse(row: VerdictRow): Verdict {
  return JSON.parse(row.json) as Verdict;
}
