import type { Db } from '../store/db.js';

/** A stored shift summary: its payload as published, and whether the broker has taken it. */
export interface StoredShift {
  camera: string;
  shiftStart: number;
  shiftEnd: number;
  json: string;
  sent: boolean;
}

interface Row {
  camera: string;
  shift_start: number;
  shift_end: number;
  json: string;
  sent_at: number | null;
}

const toStored = (r: Row): StoredShift => ({ camera: r.camera, shiftStart: r.shift_start, shiftEnd: r.shift_end, json: r.json, sent: r.sent_at !== null });

/**
 * The shift summaries made so far and the last boundary summarised. A
 * boundary's summaries and the mark move in one transaction, so a crash
 * between them can neither lose a shift nor make it twice.
 */
export class ShiftTable {
  private readonly markStmt;
  private readonly setMark;
  private readonly insert;
  private readonly unsentStmt;
  private readonly latestStmt;
  private readonly sentStmt;
  private readonly purgeStmt;

  constructor(private readonly db: Db) {
    this.markStmt = db.prepare<[], { boundary: number }>('SELECT boundary FROM shift_marks WHERE id = 1');
    this.setMark = db.prepare<[number]>('INSERT INTO shift_marks (id, boundary) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET boundary = excluded.boundary');
    this.insert = db.prepare<[string, number, number, string, number]>(
      'INSERT OR IGNORE INTO shift_summaries (camera, shift_start, shift_end, json, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.unsentStmt = db.prepare<[], Row>('SELECT camera, shift_start, shift_end, json, sent_at FROM shift_summaries WHERE sent_at IS NULL ORDER BY shift_end, camera');
    // The newest summary of each camera: what its retained topic must hold.
    this.latestStmt = db.prepare<[], Row>(
      `SELECT s.camera, s.shift_start, s.shift_end, s.json, s.sent_at FROM shift_summaries s
       JOIN (SELECT camera, MAX(shift_start) AS start FROM shift_summaries GROUP BY camera) l ON l.camera = s.camera AND l.start = s.shift_start
       ORDER BY s.camera`,
    );
    this.sentStmt = db.prepare<[number, string, number]>('UPDATE shift_summaries SET sent_at = ? WHERE camera = ? AND shift_start = ? AND sent_at IS NULL');
    this.purgeStmt = db.prepare<[number]>('DELETE FROM shift_summaries WHERE shift_end < ? AND sent_at IS NOT NULL');
  }

  /** The last boundary whose summaries are stored; undefined on a database that never made one. */
  mark(): number | undefined {
    return this.markStmt.get()?.boundary;
  }

  /** Stores the summaries of `boundary` and moves the mark to it, in one transaction. */
  record(boundary: number, summaries: ReadonlyArray<Omit<StoredShift, 'sent'>>, now: number): void {
    this.db.transaction(() => {
      for (const s of summaries) this.insert.run(s.camera, s.shiftStart, s.shiftEnd, s.json, now);
      this.setMark.run(boundary);
    })();
  }

  /** Summaries the broker has not taken yet, oldest first. */
  unsent(): StoredShift[] {
    return this.unsentStmt.all().map(toStored);
  }

  /** Each camera's newest summary. */
  latest(): StoredShift[] {
    return this.latestStmt.all().map(toStored);
  }

  markSent(camera: string, shiftStart: number, at: number): void {
    this.sentStmt.run(at, camera, shiftStart);
  }

  /** Deletes sent summaries of shifts that ended before `cutoff`; returns how many. */
  purge(cutoff: number): number {
    return this.purgeStmt.run(cutoff).changes;
  }
}
