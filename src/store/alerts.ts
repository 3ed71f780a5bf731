import type { DefectEvent } from '../types.js';
import type { Db } from './db.js';
import type { AlertRecord, AlertStatus, ModelRef } from './types.js';
import { deleteInChunks } from './chunked-delete.js';

interface AlertRow {
  status: AlertStatus;
  created_at: number;
  sent_at: number | null;
  json: string;
}

const DAY_MS = 86_400_000;

/** The alert history: queryable after sending, trimmed by retention. */
export class AlertsTable {
  private readonly recent;
  private readonly purgeChunk;

  constructor(private readonly db: Db) {
    this.recent = db.prepare<{ since: number; camera: string | null; limit: number }, AlertRow>(
      `SELECT status, created_at, sent_at, json FROM alerts
       WHERE ts >= @since AND (@camera IS NULL OR camera = @camera)
       ORDER BY ts DESC, seq DESC LIMIT @limit`,
    );
    // Alerts still in the outbox are never purged: an unsent alert outranks retention.
    this.purgeChunk = db.prepare<[number, number]>(
      `DELETE FROM alerts WHERE rowid IN (
         SELECT rowid FROM alerts WHERE ts < ? AND status <> 'queued' LIMIT ?)`,
    );
  }

  /** Newest first. */
  recentAlerts(options: { limit: number; since?: number; camera?: string }): AlertRecord[] {
    const rows = this.recent.all({ since: options.since ?? 0, camera: options.camera ?? null, limit: options.limit });
    return rows.map(toRecord);
  }

  /**
   * Deletes alerts captured more than `days` ago, `chunk` rows per transaction,
   * yielding to the event loop between chunks so a large purge never stalls
   * the pipeline or the outbox writer for long.
   */
  async purgeOlderThan(days: number, options: { chunk?: number; now?: number } = {}): Promise<number> {
    const cutoff = (options.now ?? Date.now()) - days * DAY_MS;
    return deleteInChunks(this.db, this.purgeChunk, cutoff, options.chunk);
  }
}

function toRecord(row: AlertRow): AlertRecord {
  const stored = JSON.parse(row.json) as DefectEvent & { seq: number; model?: ModelRef };
  return { ...stored, status: row.status, createdAt: row.created_at, ...(row.sent_at === null ? {} : { sentAt: row.sent_at }) };
}
