import { LinesightError, describeValue, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { DefectEvent } from '../types.js';
import { aggregateStoreOn, type AggregateStore } from './aggregate-store.js';
import { AlertsTable } from './alerts.js';
import { Counters } from './counters.js';
import { integrityProblems, openDatabase, type Db } from './db.js';
import { OutboxTable } from './outbox.js';
import { EventRecorder } from './record.js';
import type { AlertRecord, ModelRef, OutboxCounters, OutboxItem, RecordResult, Store, StoreOptions } from './types.js';

/**
 * Opens the linesight database: creates its folder, refuses a corrupt file
 * (E_STORE_CORRUPT, after saving a copy), migrates the schema. Every method is
 * synchronous; a write is durable when it returns.
 *
 * @example
 * const store = openStore('data/linesight.db', { outboxMaxRows: 100_000, outboxFullPolicy: 'drop_oldest' }, log);
 * const { seq } = store.recordEvent(event, { name: 'yolo11n', version: '1' });
 */
export function openStore(path: string, options: StoreOptions, log: Logger): Store {
  if (!Number.isInteger(options.outboxMaxRows) || options.outboxMaxRows < 1) {
    throw new LinesightError('E_ARGUMENT', `Expected positive integer for outboxMaxRows but received ${describeValue(options.outboxMaxRows)}`);
  }
  if (options.outboxFullPolicy !== 'drop_oldest' && options.outboxFullPolicy !== 'reject_new') {
    throw new LinesightError('E_ARGUMENT', `Expected "drop_oldest" or "reject_new" for outboxFullPolicy but received ${describeValue(options.outboxFullPolicy)}`);
  }
  const db = openDatabase(path, log);
  return new SqliteStore(path, db, options, log.child({ stage: 'store' }));
}

class SqliteStore implements Store {
  private readonly recorder: EventRecorder;
  private readonly outbox: OutboxTable;
  private readonly alerts: AlertsTable;
  private stats: AggregateStore | undefined;

  constructor(readonly path: string, private readonly db: Db, options: StoreOptions, log: Logger) {
    const counters = new Counters(db);
    this.recorder = new EventRecorder(db, counters, options, log);
    this.outbox = new OutboxTable(db, counters);
    this.alerts = new AlertsTable(db);
  }

  statistics(): AggregateStore {
    this.stats ??= aggregateStoreOn(this.db, this.path, false);
    return this.stats;
  }

  recordEvent(event: DefectEvent, model?: ModelRef): RecordResult {
    return this.guard('record an alert', () => this.recorder.record(event, model, Date.now()));
  }

  pendingBatch(limit: number, afterId?: number): OutboxItem[] {
    return this.guard('read the outbox', () => this.outbox.pendingBatch(limit, afterId));
  }

  markSent(ids: readonly number[], at?: number): number {
    return this.guard('remove acknowledged alerts from the outbox', () => this.outbox.markSent(ids, at));
  }

  markAllReplayed(): number {
    return this.guard('flag waiting alerts as replayed', () => this.outbox.markAllReplayed());
  }

  depth(camera?: string): number {
    return this.guard('count the outbox', () => this.outbox.depth(camera));
  }

  counters(): OutboxCounters {
    return this.guard('read the outbox counters', () => this.outbox.counters());
  }

  recentAlerts(options: { limit: number; since?: number; camera?: string }): AlertRecord[] {
    return this.guard('read recent alerts', () => this.alerts.recentAlerts(options));
  }

  purgeOlderThan(days: number, options?: { chunk?: number; now?: number }): Promise<number> {
    return this.alerts.purgeOlderThan(days, options).catch((err: unknown) => {
      throw storeError('purge old alerts', this.path, err);
    });
  }

  integrityCheck(): string[] {
    const problems = integrityProblems(this.db);
    return problems.length === 0 ? ['ok'] : problems;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw storeError(what, this.path, err);
    }
  }
}

function storeError(what: string, path: string, err: unknown): LinesightError {
  if (err instanceof LinesightError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  return new LinesightError('E_STORE', `Expected to ${what} in ${path} but SQLite failed: ${errorMessage(err)}`, {
    cause: err,
    details: { sqliteCode: code },
  });
}
