import { DAY_MS } from '../clock.js';
import type { Db } from './db.js';
import type { HealthEvent, HealthOutbox, HealthOutboxItem, HealthRecord } from './types.js';
import { deleteInChunks } from './chunked-delete.js';

interface HealthRow {
  pos: number;
  json: string;
  created_at: number;
  replayed: number;
  sent_at: number | null;
}

/**
 * Camera health events: the history and the outbox in one table, a row being
 * in the outbox while its `sent_at` is NULL. Recording one is a single
 * INSERT (one transaction); the drain marks it sent on PUBACK, and retention
 * removes only sent ones.
 */
export class HealthEventsTable implements HealthOutbox {
  private readonly insert;
  private readonly pending;
  private readonly markOne;
  private readonly replayAll;
  private readonly countAll;
  private readonly countCamera;
  private readonly recent;
  private readonly purgeChunk;
  private readonly sentTx: (ids: readonly number[], at: number) => number;

  constructor(private readonly db: Db) {
    this.insert = db.prepare<[string, string, number, string, string, string, number]>(
      'INSERT INTO health_events (id, camera, ts, state, reasons, json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.pending = db.prepare<[number, number], HealthRow>(
      'SELECT pos, json, created_at, replayed, sent_at FROM health_events WHERE sent_at IS NULL AND pos > ? ORDER BY pos LIMIT ?',
    );
    this.markOne = db.prepare<[number, number]>('UPDATE health_events SET sent_at = ? WHERE pos = ? AND sent_at IS NULL');
    this.replayAll = db.prepare('UPDATE health_events SET replayed = 1 WHERE sent_at IS NULL AND replayed = 0');
    this.countAll = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM health_events WHERE sent_at IS NULL');
    this.countCamera = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM health_events WHERE sent_at IS NULL AND camera = ?');
    this.recent = db.prepare<{ since: number; camera: string | null; limit: number }, HealthRow>(
      `SELECT pos, json, created_at, replayed, sent_at FROM health_events
       WHERE ts >= @since AND (@camera IS NULL OR camera = @camera) ORDER BY ts DESC, pos DESC LIMIT @limit`,
    );
    // An unsent event outranks retention: only sent ones go.
    this.purgeChunk = db.prepare<[number, number]>(
      'DELETE FROM health_events WHERE pos IN (SELECT pos FROM health_events WHERE ts < ? AND sent_at IS NOT NULL LIMIT ?)',
    );
    this.sentTx = db.transaction((ids: readonly number[], at: number) => ids.reduce((n, id) => n + this.markOne.run(at, id).changes, 0));
  }

  record(event: HealthEvent, now: number): void {
    this.insert.run(event.id, event.camera, event.since, event.state, JSON.stringify(event.reasons), JSON.stringify(event), now);
  }

  pendingBatch(limit: number, afterId = 0): HealthOutboxItem[] {
    return this.pending.all(afterId, limit).map((r) => ({ id: r.pos, event: parse(r), createdAt: r.created_at, replayed: r.replayed === 1 }));
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

  /** Newest first. */
  recentHealth(options: { limit: number; since?: number; camera?: string }): HealthRecord[] {
    return this.recent.all({ since: options.since ?? 0, camera: options.camera ?? null, limit: options.limit }).map((r) => ({
      ...parse(r), createdAt: r.created_at, ...(r.sent_at === null ? {} : { sentAt: r.sent_at }),
    }));
  }

  /** Deletes sent events that began more than `days` ago, `chunk` rows per statement, yielding between chunks. */
  async purgeOlderThan(days: number, options: { chunk?: number; now?: number } = {}): Promise<number> {
    const cutoff = (options.now ?? Date.now()) - days * DAY_MS;
    return deleteInChunks(this.db, this.purgeChunk, cutoff, options.chunk);
  }
}

function parse(row: HealthRow): HealthEvent {
  return JSON.parse(row.json) as HealthEvent;
}
