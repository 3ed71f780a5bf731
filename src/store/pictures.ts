import { DAY_MS } from '../clock.js';
import type { Box } from '../types.js';
import type { Db } from './db.js';

export type PictureKind = 'alert' | 'missed' | 'capture';
export type PictureReason = 'alert' | 'missed' | 'random' | 'near_threshold' | 'unconfirmed_track' | 'rare_class';

/** One detection of the model on a kept picture, as stored (the pre-labels): source pixels, top-left corner. */
export interface PictureDetection {
  class_id: number;
  class: string;
  confidence: number;
  box: Box;
}

/** A picture to record, its JPEG already on disk. */
export interface NewPicture {
  id: string;
  camera: string;
  /** Capture time of the frame, ms since epoch. */
  ts: number;
  kind: PictureKind;
  reason: PictureReason;
  alertId?: string;
  verdictId?: string;
  /** JPEG path relative to the pictures folder. */
  file: string;
  width: number;
  height: number;
  bytes: number;
  detections: readonly PictureDetection[];
  model?: { name: string; version: string };
  createdAt: number;
}

/** A recorded picture. */
export interface PictureRecord extends Omit<NewPicture, 'detections' | 'model' | 'alertId' | 'verdictId'> {
  alertId: string | null;
  verdictId: string | null;
  detections: PictureDetection[];
  modelName: string | null;
  modelVersion: string | null;
  exportedAt: number | null;
}

/** What removing a picture needs: its row and its file. */
export interface PictureFile {
  id: string;
  file: string;
  bytes: number;
}

interface Row {
  id: string;
  camera: string;
  ts: number;
  kind: PictureKind;
  reason: PictureReason;
  alert_id: string | null;
  verdict_id: string | null;
  file: string;
  width: number;
  height: number;
  bytes: number;
  detections: string;
  model_name: string | null;
  model_version: string | null;
  created_at: number;
  exported_at: number | null;
}

/** Rows per statement when many ids are marked or removed. */
const CHUNK = 200;

/**
 * The `pictures` table: the full-size frames kept for training, one row per
 * JPEG in the pictures folder. Rows and files go together: whoever removes
 * rows (`remove`) removes their files (src/capture/keeper.ts).
 */
export class PicturesTable {
  private readonly insert;
  private readonly listStmt;
  private readonly sumStmt;
  private readonly quotaStmt;
  private readonly oldStmt;
  private readonly orphanStmt;
  private readonly byAlertStmt;
  private readonly byVerdictStmt;

  constructor(private readonly db: Db) {
    // alert_id references alerts (id) and SQLite checks foreign keys here: without this, deleting an alert that has
    // a picture (retention, pruning for space) would fail. The picture loses its link instead and becomes an orphan
    // that the keeper removes with its file. TEMP: a trigger of this connection only, the schema stays as migrated.
    db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS pictures_unlink_alert BEFORE DELETE ON main.alerts
      BEGIN UPDATE main.pictures SET alert_id = NULL WHERE alert_id = OLD.id; END`);
    this.insert = db.prepare<[string, string, number, string, string, string | null, string | null, string, number, number, number, string, string | null, string | null, number]>(
      `INSERT INTO pictures (id, camera, ts, kind, reason, alert_id, verdict_id, file, width, height, bytes, detections, model_name, model_version, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.listStmt = db.prepare<{ since: number; until: number; camera: string | null; kind: string | null; limit: number }, Row>(
      `SELECT * FROM pictures WHERE ts >= @since AND ts < @until AND (@camera IS NULL OR camera = @camera) AND (@kind IS NULL OR kind = @kind)
       ORDER BY ts, id LIMIT @limit`,
    );
    this.sumStmt = db.prepare<[], { total: number | null }>('SELECT SUM(bytes) AS total FROM pictures');
    // The quota's order: exported pictures first (a dataset already has them), oldest first within each.
    this.quotaStmt = db.prepare<[number], PictureFile>(
      'SELECT id, file, bytes FROM pictures ORDER BY exported_at IS NULL, ts, id LIMIT ?',
    );
    this.oldStmt = db.prepare<[number, number], PictureFile>('SELECT id, file, bytes FROM pictures WHERE ts < ? ORDER BY ts LIMIT ?');
    // An alert removed (retention, or pruned for disk space) or a verdict removed by retention takes its picture with it.
    this.orphanStmt = db.prepare<[number], PictureFile>(
      `SELECT id, file, bytes FROM pictures p
       WHERE (p.kind = 'alert' AND (p.alert_id IS NULL OR NOT EXISTS (SELECT 1 FROM alerts a WHERE a.id = p.alert_id)))
          OR (p.verdict_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.id = p.verdict_id))
       LIMIT ?`,
    );
    this.byAlertStmt = db.prepare<[string], Row>('SELECT * FROM pictures WHERE alert_id = ? ORDER BY created_at');
    this.byVerdictStmt = db.prepare<[string], Row>('SELECT * FROM pictures WHERE verdict_id = ? ORDER BY created_at');
  }

  /** Records one picture (its file is written already). */
  record(p: NewPicture): void {
    this.insert.run(
      p.id, p.camera, Math.round(p.ts), p.kind, p.reason, p.alertId ?? null, p.verdictId ?? null, p.file, p.width, p.height, p.bytes,
      JSON.stringify(p.detections), p.model?.name ?? null, p.model?.version ?? null, p.createdAt,
    );
  }

  /** Pictures captured in [since, until), oldest first, optionally of one camera or kind. */
  list(options: { since?: number; until?: number; camera?: string; kind?: PictureKind; limit?: number } = {}): PictureRecord[] {
    return this.listStmt.all({
      since: options.since ?? 0, until: options.until ?? Number.MAX_SAFE_INTEGER, camera: options.camera ?? null, kind: options.kind ?? null,
      limit: options.limit ?? -1,
    }).map(toRecord);
  }

  /** The picture(s) of an alert. */
  ofAlert(alertId: string): PictureRecord[] {
    return this.byAlertStmt.all(alertId).map(toRecord);
  }

  /** The picture(s) of a missed-defect verdict. */
  ofVerdict(verdictId: string): PictureRecord[] {
    return this.byVerdictStmt.all(verdictId).map(toRecord);
  }

  /** Notes that a dataset export included these pictures (the quota removes exported ones first). Returns the rows changed. */
  markExported(ids: readonly string[], at: number): number {
    let n = 0;
    const tx = this.db.transaction(() => {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        n += this.db.prepare<unknown[]>(`UPDATE pictures SET exported_at = ? WHERE id IN (${chunk.map(() => '?').join(', ')})`).run(at, ...chunk).changes;
      }
    });
    tx();
    return n;
  }

  /** Bytes of all recorded pictures. */
  totalBytes(): number {
    return this.sumStmt.get()?.total ?? 0;
  }

  /** The next `limit` pictures the quota removes, in its order: exported before unexported, oldest first. */
  quotaOrder(limit: number): PictureFile[] {
    return this.quotaStmt.all(limit);
  }

  /** Up to `limit` pictures captured more than `days` before `now`, oldest first. */
  olderThan(days: number, now: number, limit: number): PictureFile[] {
    return this.oldStmt.all(now - days * DAY_MS, limit);
  }

  /** Up to `limit` pictures whose alert or verdict is gone. */
  orphans(limit: number): PictureFile[] {
    return this.orphanStmt.all(limit);
  }

  /** Deletes these rows in one transaction; returns the rows deleted. Their files are the caller's to remove. */
  remove(ids: readonly string[]): number {
    let n = 0;
    const tx = this.db.transaction(() => {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        n += this.db.prepare<string[]>(`DELETE FROM pictures WHERE id IN (${chunk.map(() => '?').join(', ')})`).run(...chunk).changes;
      }
    });
    tx();
    return n;
  }
}

function toRecord(r: Row): PictureRecord {
  return {
    id: r.id, camera: r.camera, ts: r.ts, kind: r.kind, reason: r.reason, alertId: r.alert_id, verdictId: r.verdict_id, file: r.file,
    width: r.width, height: r.height, bytes: r.bytes, detections: JSON.parse(r.detections) as PictureDetection[],
    modelName: r.model_name, modelVersion: r.model_version, createdAt: r.created_at, exportedAt: r.exported_at,
  };
}
