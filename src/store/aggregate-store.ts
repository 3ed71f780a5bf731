import { LinesightError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { AggregatesTable } from './aggregates.js';
import { openDatabase, type Db } from './db.js';
import type { MinuteStats } from './minute-stats.js';

/**
 * The statistics side of the database: per-camera per-minute records, read by
 * the upload. Synchronous like the rest of the store; errors are E_STORE.
 */
export interface AggregateStore {
  readonly path: string;
  /** The connection, for the upload's own ledger tables (same file, same migrations). */
  readonly db: Db;
  /**
   * Writes (merging into existing records of the same camera and minute) in one
   * transaction. Returns how many records counted in a later minute than their
   * own because the upload had already packed theirs (see AggregatesTable.write).
   */
  writeMinutes(rows: readonly MinuteStats[]): number;
  /** Records with `from ≤ minute < to`, by minute then camera. */
  minutes(from: number, to: number, limit?: number): MinuteStats[];
  firstMinute(from: number, before: number): number | undefined;
  countSince(from: number): { rows: number; minutes: number };
  /** Minutes before this (ms since epoch) were acknowledged by the upload; 0 when nothing was. */
  acknowledgedUntil(): number;
  /**
   * Deletes records older than `days` in chunks, never one the upload has not
   * had acknowledged (unless `keepUnsynced: false`). Resolves to the number deleted.
   */
  purgeAggregates(days: number, options?: { chunk?: number; now?: number; keepUnsynced?: boolean }): Promise<number>;
  close(): void;
}

/**
 * Opens its own connection to the linesight database (WAL lets it sit next to
 * the alert store's connection). Runs the same migrations as `openStore`.
 *
 * @example
 * const stats = openAggregateStore(config.store.path, log);
 * const aggregator = new MinuteAggregator({ sink: stats, log });
 */
export function openAggregateStore(path: string, log: Logger): AggregateStore {
  return aggregateStoreOn(openDatabase(path, log), path);
}

/** Hears how writes went: the alert store's health, when the statistics share its connection. */
export interface WriteObserver {
  /** A write that changed rows committed. */
  wrote(): void;
  /** A write failed with `err` (the SQLite error). */
  failed(err: unknown, what: string): void;
}

/**
 * Wraps a connection that is already open and migrated. With `ownsConnection`
 * false (the alert store's `statistics()`), `close()` leaves the connection to
 * its owner.
 */
export function aggregateStoreOn(db: Db, path: string, ownsConnection = true, observer?: WriteObserver): AggregateStore {
  const table = new AggregatesTable(db);
  const guard = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw storeError(what, path, err);
    }
  };
  const write = (rows: readonly MinuteStats[]): number => {
    const what = 'write per-minute statistics';
    let moved: number;
    try {
      moved = table.write(rows);
    } catch (err) {
      observer?.failed(err, what);
      throw storeError(what, path, err);
    }
    if (rows.length > 0) observer?.wrote();
    return moved;
  };
  return {
    path,
    db,
    writeMinutes: write,
    minutes: (from, to, limit) => guard('read per-minute statistics', () => table.minutes(from, to, limit)),
    firstMinute: (from, before) => guard('read per-minute statistics', () => table.firstMinute(from, before)),
    countSince: (from) => guard('count per-minute statistics', () => table.countSince(from)),
    acknowledgedUntil: () => guard('read the upload watermark', () => table.acknowledgedUntil()),
    purgeAggregates: (days, options) =>
      table.purge(days, options).catch((err: unknown) => {
        observer?.failed(err, 'purge old per-minute statistics');
        throw storeError('purge old per-minute statistics', path, err);
      }),
    close: () => {
      if (ownsConnection && db.open) db.close();
    },
  };
}

function storeError(what: string, path: string, err: unknown): LinesightError {
  if (err instanceof LinesightError) return err;
  return new LinesightError('E_STORE', `Expected to ${what} in ${path} but SQLite failed: ${errorMessage(err)}`, {
    cause: err,
    details: { sqliteCode: (err as { code?: unknown } | null)?.code },
  });
}
