import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ACKED_UNTIL } from './aggregates.js';
import type { Db } from './db.js';

/** The store's guards: failures reach its health; `committed` says a write that changed rows went through. */
export interface Guards {
  maintain<T>(what: string, fn: () => T): T;
  committed(): void;
}

export interface PruneResult {
  /** Uploaded per-minute statistics records deleted. */
  minutes: number;
  /** Sent (or lost) alerts deleted from the history. */
  alerts: number;
  /** Bytes of free pages inside the database file after pruning. */
  room: number;
}

export interface CompactResult {
  /** The database file returned its free pages to the filesystem (auto_vacuum incremental). */
  vacuumed: boolean;
  /** The WAL could not be truncated because a reader still needed it. */
  walBusy: boolean;
}

/**
 * Makes room in the database when its filesystem runs low, deleting only what
 * has a copy elsewhere, oldest first, a chunk per transaction: per-minute
 * statistics the upload had acknowledged, then alerts the broker acknowledged
 * (or the outbox bound gave up on). An alert still in the outbox is never
 * touched, whatever its age.
 */
export class SpacePruner {
  private readonly ackedUntil;
  private readonly dropMinutes;
  private readonly dropAlerts;

  constructor(private readonly db: Db, private readonly guards: Guards) {
    this.ackedUntil = db.prepare<[string], { value: string }>('SELECT value FROM sync_state WHERE name = ?');
    this.dropMinutes = db.prepare<[number, number]>(
      `DELETE FROM aggregates WHERE (minute, camera) IN (
         SELECT minute, camera FROM aggregates WHERE minute < ? ORDER BY minute LIMIT ?)`,
    );
    // Both guards on purpose: the status says so, and the outbox row is the proof.
    this.dropAlerts = db.prepare<[number]>(
      `DELETE FROM alerts WHERE rowid IN (
         SELECT rowid FROM alerts WHERE status <> 'queued' AND id NOT IN (SELECT alert_id FROM outbox) ORDER BY ts LIMIT ?)`,
    );
  }

  /** Bytes of free pages inside the file: room new rows take without growing it. */
  room(): number {
    const pages = this.db.pragma('freelist_count', { simple: true }) as number;
    return pages * (this.db.pragma('page_size', { simple: true }) as number);
  }

  /**
   * Deletes, chunk by chunk, until the file holds `bytes` of free pages or
   * nothing prunable is left; yields to the event loop between chunks.
   */
  async prune(bytes: number, chunk = 500): Promise<PruneResult> {
    const result: PruneResult = { minutes: 0, alerts: 0, room: this.room() };
    const acked = Number(this.ackedUntil.get(ACKED_UNTIL)?.value ?? 0);
    while (result.room < bytes && this.db.open) {
      const minutes = this.guards.maintain('prune uploaded statistics', () => this.dropMinutes.run(acked, chunk).changes);
      const alerts = minutes > 0 ? 0 : this.guards.maintain('prune sent alerts', () => this.dropAlerts.run(chunk).changes);
      // A DELETE that found nothing wrote nothing: only one that did proves the disk takes writes.
      if (minutes + alerts > 0) this.guards.committed();
      result.minutes += minutes;
      result.alerts += alerts;
      result.room = this.room();
      if (minutes === 0 && alerts === 0) break;
      await yieldToLoop();
    }
    return result;
  }

  /**
   * Gives space back to the filesystem: the free pages when the file was
   * created with auto_vacuum incremental (linesight's databases are; older ones
   * keep them as room for new rows, since converting needs a VACUUM that wants
   * twice the file's size free), then the WAL, truncated to zero.
   */
  compact(): CompactResult {
    const vacuumed = this.db.pragma('auto_vacuum', { simple: true }) === 2 && this.room() > 0;
    if (vacuumed) this.guards.maintain('return free pages to the filesystem', () => this.db.pragma('incremental_vacuum'));
    const [cp] = this.guards.maintain('checkpoint the WAL', () => this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>);
    return { vacuumed, walBusy: (cp?.busy ?? 0) !== 0 };
  }
}
