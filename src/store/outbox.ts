import type { DefectEvent } from '../types.js';
import type { Counters } from './counters.js';
import type { Db } from './db.js';
import type { ModelRef, Outbox, OutboxCounters, OutboxItem } from './types.js';

interface OutboxRow {
  id: number;
  seq: number;
  created_at: number;
  replayed: number;
  json: string;
}

/** The publisher's side of the outbox: read in insertion order, delete on PUBACK. */
export class OutboxTable implements Outbox {
  private readonly pending;
  private readonly alertIdOf;
  private readonly deleteRow;
  private readonly markAlertSent;
  private readonly replayAll;
  private readonly countCamera;
  private readonly sentTx: (ids: readonly number[], at: number) => number;

  constructor(db: Db, private readonly count: Counters) {
    this.pending = db.prepare<[number, number], OutboxRow>(
      'SELECT id, seq, created_at, replayed, json FROM outbox WHERE id > ? ORDER BY id LIMIT ?',
    );
    this.alertIdOf = db.prepare<[number], { alert_id: string }>('SELECT alert_id FROM outbox WHERE id = ?');
    this.deleteRow = db.prepare<[number]>('DELETE FROM outbox WHERE id = ?');
    this.markAlertSent = db.prepare<[number, string]>("UPDATE alerts SET status = 'sent', sent_at = ? WHERE id = ?");
    this.replayAll = db.prepare('UPDATE outbox SET replayed = 1 WHERE replayed = 0');
    this.countCamera = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE camera = ?');
    this.sentTx = db.transaction((ids: readonly number[], at: number) => {
      let removed = 0;
      for (const id of ids) {
        const row = this.alertIdOf.get(id);
        if (!row) continue; // already acknowledged, or dropped by the bound meanwhile
        this.markAlertSent.run(at, row.alert_id);
        this.deleteRow.run(id);
        removed += 1;
      }
      this.count.add('outbox_depth', -removed);
      return removed;
    });
    // The counter is kept in step transactionally; re-deriving it once per open costs one scan and removes all doubt.
    db.prepare("UPDATE counters SET value = (SELECT COUNT(*) FROM outbox) WHERE name = 'outbox_depth'").run();
  }

  pendingBatch(limit: number, afterId = 0): OutboxItem[] {
    return this.pending.all(afterId, limit).map(toItem);
  }

  markSent(ids: readonly number[], at = Date.now()): number {
    return ids.length === 0 ? 0 : this.sentTx(ids, at);
  }

  markAllReplayed(): number {
    return this.replayAll.run().changes;
  }

  depth(camera?: string): number {
    if (camera === undefined) return this.count.get('outbox_depth');
    return this.countCamera.get(camera)?.n ?? 0;
  }

  counters(): OutboxCounters {
    return {
      depth: this.count.get('outbox_depth'),
      dropped: this.count.get('outbox_dropped'),
      rejected: this.count.get('outbox_rejected'),
    };
  }
}

function toItem(row: OutboxRow): OutboxItem {
  const stored = JSON.parse(row.json) as DefectEvent & { seq: number; model?: ModelRef };
  const { seq: _seq, model, ...event } = stored;
  return { id: row.id, seq: row.seq, event, model, createdAt: row.created_at, replayed: row.replayed === 1 };
}
