import type { DefectEvent } from '../types.js';
import type { Db } from './db.js';
import type { ModelRef } from './types.js';

/** One alert of the history, as the Sparkplug edge node sends it. */
export interface LedgerAlert {
  /** The alert's rowid: increases with insertion, the cursor's unit. */
  pos: number;
  /** ms since epoch when the alert was committed. */
  createdAt: number;
  alert: DefectEvent & { seq: number; model?: ModelRef };
}

/**
 * What the Sparkplug edge node keeps across restarts, in the `counters` table
 * (rows added here when missing, so no migration is needed): the bdSeq of the
 * next MQTT CONNECT, and a cursor over the alert history (the rowid of the last
 * alert sent as a defect), so defects recorded while the edge node was offline
 * or stopped are sent once it is back.
 */
export interface SparkplugLedger {
  /** The bdSeq for the next CONNECT (0–255, Sparkplug B 3.0 §6.4.2); stores its successor before returning. */
  takeBdSeq(): number;
  /** Rowid of the last alert sent; 0 before the first. */
  cursor(): number;
  /** Moves the cursor forward (never back). */
  advance(pos: number): void;
  /**
   * Alerts recorded after `pos`, oldest first. SQLite hands out rowids again
   * once the newest rows are gone (a retention purge that emptied the table):
   * when the history's newest row is below the cursor, or the cursor's row is
   * another alert than the one it was moved to, the cursor goes back to 0 and
   * every alert still there is returned.
   */
  alertsAfter(pos: number, limit: number): LedgerAlert[];
  /** The newest alert of `camera` at or below `pos`. */
  lastAlert(camera: string, pos: number): LedgerAlert | undefined;
  /** Alerts at or below `pos`, per camera and class. */
  classCounts(pos: number): Map<string, Map<string, number>>;
}

const BDSEQ = 'sparkplug_bdseq';
const CURSOR = 'sparkplug_alert_cursor';
/** `created_at` of the cursor's alert: tells that alert from a later one given the same rowid. */
const CURSOR_AT = 'sparkplug_alert_cursor_at';

interface Row {
  pos: number;
  created_at: number;
  json: string;
}

export function sparkplugLedger(db: Db): SparkplugLedger {
  const init = db.prepare<[string]>('INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)');
  db.transaction(() => {
    init.run(BDSEQ);
    init.run(CURSOR);
    init.run(CURSOR_AT);
  })();
  const get = db.prepare<[string], { value: number }>('SELECT value FROM counters WHERE name = ?');
  const set = db.prepare<[number, string]>('UPDATE counters SET value = ? WHERE name = ?');
  const maxPos = db.prepare<[], { pos: number | null }>('SELECT max(rowid) AS pos FROM alerts');
  const createdAt = db.prepare<[number], { created_at: number }>('SELECT created_at FROM alerts WHERE rowid = ?');
  const after = db.prepare<[number, number], Row>('SELECT rowid AS pos, created_at, json FROM alerts WHERE rowid > ? ORDER BY rowid LIMIT ?');
  // The (camera, seq) index walks a camera's alerts newest first.
  const last = db.prepare<[string, number], Row>(
    'SELECT rowid AS pos, created_at, json FROM alerts WHERE camera = ? AND rowid <= ? ORDER BY seq DESC LIMIT 1',
  );
  const counts = db.prepare<[number], { camera: string; class_name: string; n: number }>(
    'SELECT camera, class_name, COUNT(*) AS n FROM alerts WHERE rowid <= ? GROUP BY camera, class_name',
  );
  const value = (name: string) => get.get(name)?.value ?? 0;

  return {
    takeBdSeq: db.transaction(() => {
      const bdSeq = value(BDSEQ) % 256;
      set.run((bdSeq + 1) % 256, BDSEQ);
      return bdSeq;
    }),
    cursor: () => value(CURSOR),
    advance: db.transaction((pos: number) => {
      if (pos <= value(CURSOR)) return;
      set.run(pos, CURSOR);
      set.run(createdAt.get(pos)?.created_at ?? 0, CURSOR_AT);
    }),
    alertsAfter(pos, limit) {
      let from = pos;
      const cursor = value(CURSOR);
      const reused = cursor > 0 && (cursor > (maxPos.get()?.pos ?? 0) || (createdAt.get(cursor)?.created_at ?? value(CURSOR_AT)) !== value(CURSOR_AT));
      if (reused || from > (maxPos.get()?.pos ?? 0)) {
        from = 0;
        set.run(0, CURSOR);
        set.run(0, CURSOR_AT);
      }
      return after.all(from, limit).map(toAlert);
    },
    lastAlert(camera, pos) {
      const row = last.get(camera, pos);
      return row && toAlert(row);
    },
    classCounts(pos) {
      const out = new Map<string, Map<string, number>>();
      for (const r of counts.all(pos)) {
        const ofCamera = out.get(r.camera) ?? new Map<string, number>();
        ofCamera.set(r.class_name, r.n);
        out.set(r.camera, ofCamera);
      }
      return out;
    },
  };
}

function toAlert(row: Row): LedgerAlert {
  return { pos: row.pos, createdAt: row.created_at, alert: JSON.parse(row.json) as LedgerAlert['alert'] };
}
