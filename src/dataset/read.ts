import Database from 'better-sqlite3';
import { LinesightError, errorMessage } from '../errors.js';
import { STANDING_MISSED } from '../store/verdicts.js';
import type { Box } from '../types.js';
import type { FrameAlert, MissedBox, PictureKind, PictureSources, PreLabel, StoredPicture } from './types.js';

/** The schema version that has the `pictures` table. */
const PICTURES_VERSION = 5;

export interface ReadQuery {
  /** Pictures with since ≤ ts < until, ms since epoch. */
  since: number;
  until: number;
  /** Only these cameras; empty: all. */
  cameras: readonly string[];
}

interface PictureRow {
  id: string;
  camera: string;
  ts: number;
  kind: PictureKind;
  reason: string;
  alert_id: string | null;
  verdict_id: string | null;
  file: string;
  width: number;
  height: number;
  detections: string;
  exported_at: number | null;
}

interface AlertRow {
  id: string;
  camera: string;
  frame_ts: number;
  class_name: string;
  box_x: number;
  box_y: number;
  box_w: number;
  box_h: number;
  verdict: 'confirmed' | 'false_alarm' | null;
}

interface MissedJson {
  id: string;
  camera: string;
  className: string;
  box: Box;
  frame: { ts: number };
}

/** Statements per chunk of ids (SQLite's default limit on bound parameters is far above). */
const CHUNK = 500;

/** Opens the store read-only: an export never changes what it reads (marking comes after, in `markExported`). */
export function openReadOnly(path: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    throw new LinesightError('E_DATASET', `Expected a linesight SQLite store at ${path} but could not open it: ${errorMessage(err)}`, { cause: err });
  }
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version < PICTURES_VERSION) {
    db.close();
    throw new LinesightError('E_DATASET', `Expected a store with kept pictures (schema ${PICTURES_VERSION} or later) at ${path} but found schema ${version}: run this linesight version on the line first`);
  }
  return db;
}

/** Camera ids that have pictures in the store. */
export function storedCameras(db: Database.Database): string[] {
  return db.prepare<[], { camera: string }>('SELECT DISTINCT camera FROM pictures ORDER BY camera').all().map((r) => r.camera);
}

/**
 * Every picture of the period with the alerts raised on its frame (each with
 * its latest verdict) and the missed defects drawn on it. An alert or a
 * missed verdict belongs to a picture when the picture names it, or when it
 * was on the same camera's frame of the same capture time.
 */
export function readSources(db: Database.Database, q: ReadQuery): { sources: PictureSources[]; missedWithoutPicture: number } {
  const camFilter = q.cameras.length ? ` AND camera IN (${q.cameras.map(() => '?').join(', ')})` : '';
  const rows = db.prepare<unknown[], PictureRow>(
    `SELECT id, camera, ts, kind, reason, alert_id, verdict_id, file, width, height, detections, exported_at
     FROM pictures WHERE ts >= ? AND ts < ?${camFilter} ORDER BY ts, id`,
  ).all(q.since, q.until, ...q.cameras);

  const alertSql = `SELECT a.id, a.camera, a.frame_ts, a.class_name, a.box_x, a.box_y, a.box_w, a.box_h,
      (SELECT v.verdict FROM verdicts v WHERE v.alert_id = a.id ORDER BY v.pos DESC LIMIT 1) AS verdict
    FROM alerts a`;
  const alertsInPeriod = db.prepare<unknown[], AlertRow>(`${alertSql} WHERE a.frame_ts >= ? AND a.frame_ts < ?${camFilter.replace('camera', 'a.camera')}`)
    .all(q.since, q.until, ...q.cameras);
  const alertById = new Map(alertsInPeriod.map((a) => [a.id, a]));
  const named = [...new Set(rows.map((r) => r.alert_id).filter((id): id is string => id !== null && !alertById.has(id)))];
  for (let i = 0; i < named.length; i += CHUNK) {
    const chunk = named.slice(i, i + CHUNK);
    for (const a of db.prepare<string[], AlertRow>(`${alertSql} WHERE a.id IN (${chunk.map(() => '?').join(', ')})`).all(...chunk)) alertById.set(a.id, a);
  }

  // A missed defect is drawn after its frame was captured: verdicts given from `since` on cover every frame of the period.
  // One an operator withdrew (drawn by mistake) is no label.
  const missed = db.prepare<unknown[], { json: string }>(`SELECT json FROM verdicts WHERE ${STANDING_MISSED} AND ts >= ?${camFilter} ORDER BY pos`)
    .all(q.since, ...q.cameras)
    .map((r) => JSON.parse(r.json) as MissedJson)
    .filter((m) => m.frame.ts >= q.since && m.frame.ts < q.until);
  const missedById = new Map(missed.map((m) => [m.id, m]));

  const frameKey = (camera: string, ts: number): string => `${camera}\u0000${ts}`;
  const alertsByFrame = groupBy([...alertById.values()], (a) => frameKey(a.camera, a.frame_ts));
  const missedByFrame = groupBy(missed, (m) => frameKey(m.camera, m.frame.ts));
  const pictured = new Set<string>();
  const sources = rows.map((row): PictureSources => {
    const key = frameKey(row.camera, row.ts);
    const alerts = unique([...(row.alert_id && alertById.has(row.alert_id) ? [alertById.get(row.alert_id) as AlertRow] : []), ...(alertsByFrame.get(key) ?? [])], (a) => a.id);
    const drawn = unique([...(row.verdict_id && missedById.has(row.verdict_id) ? [missedById.get(row.verdict_id) as MissedJson] : []), ...(missedByFrame.get(key) ?? [])], (m) => m.id);
    for (const m of drawn) pictured.add(m.id);
    return { picture: toPicture(row), alerts: alerts.map(toFrameAlert), missed: drawn.map(toMissed) };
  });
  return { sources, missedWithoutPicture: missed.filter((m) => !pictured.has(m.id)).length };
}

/** Stamps `exported_at` on the exported pictures (the capture quota deletes exported pictures first). */
export function markExported(path: string, ids: readonly string[], at: number): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const conn = db;
    conn.transaction(() => {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        conn.prepare(`UPDATE pictures SET exported_at = ? WHERE id IN (${chunk.map(() => '?').join(', ')})`).run(at, ...chunk);
      }
    }).immediate();
  } catch (err) {
    throw new LinesightError('E_STORE', `Expected to mark ${ids.length} exported pictures in ${path} but failed: ${errorMessage(err)}`, { cause: err });
  } finally {
    db?.close();
  }
}

function toPicture(r: PictureRow): StoredPicture {
  let detections: PreLabel[];
  try {
    detections = JSON.parse(r.detections) as PreLabel[];
  } catch (err) {
    throw new LinesightError('E_STORE', `Expected picture ${r.id}'s detections to be JSON but found ${JSON.stringify(r.detections.slice(0, 60))}`, { cause: err });
  }
  return {
    id: r.id, camera: r.camera, ts: r.ts, kind: r.kind, reason: r.reason, alertId: r.alert_id, verdictId: r.verdict_id,
    file: r.file, width: r.width, height: r.height, detections, exportedAt: r.exported_at,
  };
}

function toFrameAlert(a: AlertRow): FrameAlert {
  return { alertId: a.id, className: a.class_name, box: { x: a.box_x, y: a.box_y, w: a.box_w, h: a.box_h }, verdict: a.verdict ?? 'unjudged' };
}

function toMissed(m: MissedJson): MissedBox {
  return { verdictId: m.id, className: m.className, box: m.box };
}

function groupBy<T>(items: readonly T[], key: (v: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const v of items) {
    const k = key(v);
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  }
  return out;
}

function unique<T>(items: readonly T[], key: (v: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((v) => !seen.has(key(v)) && seen.add(key(v)) !== undefined);
}
