import type { Db } from '../store/db.js';
import type { ProductionContext } from '../types.js';
import type { ContextChange } from './timeline.js';

export type ContextSource = 'mqtt' | 'cli';

/** A row of the context history. */
export interface ContextRecord extends ContextChange {
  id: number;
  receivedAt: number;
  source: ContextSource;
}

interface Row {
  id: number;
  ts: number;
  received_at: number;
  source: ContextSource;
  json: string;
}

/**
 * The history of the line's context changes (table `context_changes`). The
 * running line and `linesight context set` both write it; the line reads rows
 * past the last id it has seen, so a change made from the command line
 * reaches it without a broker. The same change (same `ts`, same JSON) is
 * stored once, however often its retained message arrives.
 */
export class ContextHistory {
  private readonly insert;
  private readonly newest;
  private readonly after;
  private readonly between;
  private readonly maxIdStmt;

  constructor(db: Db) {
    this.insert = db.prepare<[number, number, ContextSource, string]>(
      'INSERT INTO context_changes (ts, received_at, source, json) VALUES (?, ?, ?, ?) ON CONFLICT (ts, json) DO NOTHING',
    );
    this.newest = db.prepare<[number], Row>('SELECT id, ts, received_at, source, json FROM context_changes ORDER BY ts DESC, id DESC LIMIT ?');
    this.after = db.prepare<[number], Row>('SELECT id, ts, received_at, source, json FROM context_changes WHERE id > ? ORDER BY id');
    this.between = db.prepare<[number, number], Row>(
      `SELECT id, ts, received_at, source, json FROM context_changes
       WHERE ts >= COALESCE((SELECT MAX(ts) FROM context_changes WHERE ts <= ?), 0) AND ts < ? ORDER BY ts, id`,
    );
    this.maxIdStmt = db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM context_changes');
  }

  /** Stores a change; false when the same change was already there. */
  record(context: ProductionContext, ts: number, receivedAt: number, source: ContextSource): boolean {
    return this.insert.run(ts, receivedAt, source, JSON.stringify(context)).changes === 1;
  }

  /** The newest `limit` changes by effective time, oldest first. */
  latest(limit: number): ContextRecord[] {
    return this.newest.all(limit).map(toRecord).reverse();
  }

  /** The last row's id (0 when empty). */
  maxId(): number {
    return this.maxIdStmt.get()?.id ?? 0;
  }

  /** Rows written after row `id`, in insertion order. */
  since(id: number): ContextRecord[] {
    return this.after.all(id).map(toRecord);
  }

  /** The changes in force at some moment of [from, to): the one in force at `from`, then every later one. */
  inForce(from: number, to: number): ContextRecord[] {
    return this.between.all(from, to).map(toRecord);
  }
}

function toRecord(r: Row): ContextRecord {
  return { id: r.id, ts: r.ts, receivedAt: r.received_at, source: r.source, context: JSON.parse(r.json) as ProductionContext };
}
