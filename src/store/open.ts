import { systemClock, type Clock } from '../clock.js';
import { LinesightError, describeValue, errorMessage } from '../errors.js';
import type { Unsubscribe } from '../listeners.js';
import type { Logger } from '../log.js';
import type { DefectEvent } from '../types.js';
import { aggregateStoreOn, type AggregateStore } from './aggregate-store.js';
import { AlertsTable } from './alerts.js';
import { Counters } from './counters.js';
import { integrityProblems, openDatabase, type Db } from './db.js';
import { startDiskWatch, type DiskWatch, type DiskWatchOptions } from './disk-watch.js';
import { StoreHealth, type StoreHealthSnapshot } from './health.js';
import { HealthEventsTable } from './health-events.js';
import { OutboxTable } from './outbox.js';
import { PicturesTable } from './pictures.js';
import { SpacePruner } from './prune.js';
import { sparkplugLedger, type SparkplugLedger } from './sparkplug-ledger.js';
import { EventRecorder } from './record.js';
import { VerdictsTable } from './verdicts.js';
import { refusalOf } from '../verdicts/refusal.js';
import type {
  AlertRecord, AlertVerdictInput, HealthEvent, HealthOutbox, HealthRecord, JudgedAlert, ModelRef, OutboxCounters, OutboxItem, RecordResult, Store,
  StoreOptions, Verdict, VerdictOutbox, WithdrawInput,
} from './types.js';

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
  private readonly healthState: StoreHealth;
  private readonly healthEvents: HealthEventsTable;
  readonly healthOutbox: HealthOutbox;
  private readonly verdicts: VerdictsTable;
  readonly verdictOutbox: VerdictOutbox;
  private readonly probeStmt;
  private stats: AggregateStore | undefined;
  private picturesTable: PicturesTable | undefined;
  private ledger: SparkplugLedger | undefined;
  private watches: DiskWatch[] = [];
  /** PUBACKed alerts whose removal from the outbox failed (full disk): removed once writes commit again. */
  private acksToRetry: Array<{ ids: readonly number[]; at: number }> = [];
  private readonly clock: Clock | undefined;

  constructor(readonly path: string, private readonly db: Db, options: StoreOptions, private readonly log: Logger) {
    const counters = new Counters(db);
    this.recorder = new EventRecorder(db, counters, options, log);
    this.outbox = new OutboxTable(db, counters);
    this.alerts = new AlertsTable(db);
    this.healthEvents = new HealthEventsTable(db);
    this.healthOutbox = this.healthOutboxView();
    this.verdicts = new VerdictsTable(db);
    this.verdictOutbox = this.verdictOutboxView();
    this.pictures(); // its trigger lets alerts that have pictures be deleted (retention, pruning)
    this.clock = options.clock;
    this.healthState = new StoreHealth({ path, log, clock: options.clock, freeBytes: options.freeBytes });
    // A real change: SQLite skips writing a page an UPDATE left as it was, and that would commit on a full disk.
    this.healthState.onChange((h) => {
      if (h.state === 'ok') this.retryAcks();
    });
    this.probeStmt = db.prepare("INSERT INTO counters (name, value) VALUES ('store_probes', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1");
  }

  statistics(): AggregateStore {
    this.stats ??= aggregateStoreOn(this.db, this.path, false, {
      wrote: () => this.healthState.wrote(),
      failed: (err, what) => this.failed(err, what),
    });
    return this.stats;
  }

  sparkplugLedger(): SparkplugLedger {
    this.ledger ??= sparkplugLedger(this.db);
    return this.ledger;
  }

  pictures(): PicturesTable {
    this.picturesTable ??= new PicturesTable(this.db);
    return this.picturesTable;
  }

  recordEvent(event: DefectEvent, model?: ModelRef): RecordResult {
    return this.write('record an alert', () => this.recorder.record(event, model, Date.now()));
  }

  recordHealth(event: HealthEvent): void {
    this.write('record a camera health event', () => this.healthEvents.record(event, (this.clock ?? systemClock).now()));
  }

  recentHealth(options: { limit: number; since?: number; camera?: string }): HealthRecord[] {
    return this.guard('read recent health events', () => this.healthEvents.recentHealth(options));
  }

  judgeAlert(input: AlertVerdictInput): JudgedAlert {
    return this.write('record a verdict', () => this.refusing(() => this.verdicts.judgeAlert(input, this.now())));
  }

  recordMissed(verdict: Verdict): void {
    this.write('record a missed defect', () => this.verdicts.recordMissed(verdict, this.now()));
  }

  withdrawMissed(input: WithdrawInput): Verdict {
    return this.write('record a withdrawn missed defect', () => this.refusing(() => this.verdicts.withdrawMissed(input, this.now())));
  }

  recentMissed(limit: number): Verdict[] {
    return this.guard('read the recent missed defects', () => this.verdicts.recentMissed(limit));
  }

  latestVerdicts(alertIds: readonly string[]): Map<string, Verdict> {
    return this.guard('read the verdicts of alerts', () => this.verdicts.latestVerdicts(alertIds));
  }

  purgeHealthOlderThan(days: number, options?: { chunk?: number; now?: number }): Promise<number> {
    return this.healthEvents.purgeOlderThan(days, options).then((n) => {
      if (n > 0) this.healthState.wrote();
      return n;
    }, (err: unknown) => {
      this.failed(err, 'purge old health events');
      throw storeError('purge old health events', this.path, err);
    });
  }

  health(): StoreHealthSnapshot {
    return this.healthState.snapshot();
  }

  onHealthChange(fn: (health: StoreHealthSnapshot) => void): Unsubscribe {
    return this.healthState.onChange(fn);
  }

  allocateUnstored(camera: string): number {
    const seq = this.guard('read the camera sequence', () => this.recorder.reserveUnstored(camera));
    this.healthState.countUnstored();
    return seq;
  }

  watchDisk(options: DiskWatchOptions): DiskWatch {
    const pruner = new SpacePruner(this.db, {
      maintain: (what, fn) => this.write(what, fn, () => false),
      committed: () => this.healthState.wrote(),
    });
    const watch = startDiskWatch({
      path: this.path, health: this.healthState, pruner, log: this.log,
      probe: () => this.write('write a probe row', () => this.probeStmt.run()),
    }, { ...options, clock: options.clock ?? this.clock });
    this.watches.push(watch);
    return watch;
  }

  pendingBatch(limit: number, afterId?: number): OutboxItem[] {
    return this.guard('read the outbox', () => this.outbox.pendingBatch(limit, afterId));
  }

  markSent(ids: readonly number[], at = Date.now()): number {
    try {
      return this.write('remove acknowledged alerts from the outbox', () => this.outbox.markSent(ids, at), (n) => n > 0);
    } catch (err) {
      // Delivered all the same: without this they would stay in the outbox until the next reconnect sends them twice.
      if (this.healthState.current !== 'ok' && this.pendingAcks() + ids.length <= MAX_ACKS_TO_RETRY) this.acksToRetry.push({ ids: [...ids], at });
      throw err;
    }
  }

  markAllReplayed(): number {
    return this.write('flag waiting alerts as replayed', () => this.outbox.markAllReplayed(), (n) => n > 0);
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
    // Verdicts go with the alerts they judge: only sent ones, past the same retention.
    const purged = this.verdicts.purgeOlderThan(days, options).then(() => this.alerts.purgeOlderThan(days, options));
    return purged.then((n) => {
      if (n > 0) this.healthState.wrote();
      return n;
    }, (err: unknown) => {
      this.failed(err, 'purge old alerts');
      throw storeError('purge old alerts', this.path, err);
    });
  }

  integrityCheck(): string[] {
    const problems = integrityProblems(this.db);
    return problems.length === 0 ? ['ok'] : problems;
  }

  close(): void {
    for (const watch of this.watches.splice(0)) watch.stop();
    if (this.db.open) this.db.close();
  }

  /** The health table behind the same error handling as the alert outbox: failed writes reach the store's health. */
  private healthOutboxView(): HealthOutbox {
    const table = this.healthEvents;
    return {
      pendingBatch: (limit, afterId) => this.guard('read the health outbox', () => table.pendingBatch(limit, afterId)),
      markSent: (ids, at) => this.write('mark acknowledged health events sent', () => table.markSent(ids, at), (n) => n > 0),
      markAllReplayed: () => this.write('flag waiting health events as replayed', () => table.markAllReplayed(), (n) => n > 0),
      depth: (camera) => this.guard('count the health outbox', () => table.depth(camera)),
    };
  }

  /** The verdict outbox behind the same error handling as the alert outbox. */
  private verdictOutboxView(): VerdictOutbox {
    const table = this.verdicts;
    return {
      pendingBatch: (limit, afterId) => this.guard('read the verdict outbox', () => table.pendingBatch(limit, afterId)),
      markSent: (ids, at) => this.write('mark acknowledged verdicts sent', () => table.markSent(ids, at), (n) => n > 0),
      markAllReplayed: () => this.write('flag waiting verdicts as replayed', () => table.markAllReplayed(), (n) => n > 0),
      depth: (camera) => this.guard('count the verdict outbox', () => table.depth(camera)),
    };
  }

  /** A refused verdict (unknown alert, already judged) is an answer, not a failing disk: it must not reach the store's health. */
  private refusing<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (refusalOf(err)) throw new RefusedVerdict(err);
      throw err;
    }
  }

  private now(): number {
    return (this.clock ?? systemClock).now();
  }

  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw storeError(what, this.path, err);
    }
  }

  /**
   * A write: its failure reaches the health (full, failing) and its success,
   * when `changed` says rows were written, clears it. A statement that wrote
   * nothing proves nothing: it commits even on a full disk.
   */
  private write<T>(what: string, fn: () => T, changed: (result: T) => boolean = () => true): T {
    let result: T;
    try {
      result = fn();
    } catch (err) {
      if (err instanceof RefusedVerdict) throw err.refusal;
      this.failed(err, what);
      throw storeError(what, this.path, err);
    }
    if (changed(result)) this.healthState.wrote();
    return result;
  }

  private pendingAcks(): number {
    return this.acksToRetry.reduce((n, a) => n + a.ids.length, 0);
  }

  private retryAcks(): void {
    const batches = this.acksToRetry.splice(0);
    for (const [i, { ids, at }] of batches.entries()) {
      try {
        this.write('remove acknowledged alerts from the outbox', () => this.outbox.markSent(ids, at), (n) => n > 0);
      } catch {
        // Still refused: the health has turned again and says so; keep them for the next recovery.
        this.acksToRetry.unshift(...batches.slice(i));
        return;
      }
    }
  }

  private failed(err: unknown, what: string): void {
    // After SQLITE_FULL or SQLITE_IOERR SQLite may leave the transaction open and asks for an
    // explicit ROLLBACK (sqlite.org/lang_transaction.html); without it every later BEGIN would fail.
    if (this.db.open && this.db.inTransaction) {
      try {
        this.db.exec('ROLLBACK');
      } catch (rollbackErr) {
        this.log.warn({ stage: 'store', code: 'E_STORE', err: errorMessage(rollbackErr) }, 'could not roll back after a failed write; the next write retries it');
      }
    }
    this.healthState.failed(err, what);
  }
}

/** Carries a verdict refusal past the write guard untouched. */
class RefusedVerdict {
  constructor(readonly refusal: unknown) {}
}

/** Acknowledged-but-unremoved outbox rows remembered through a full disk; beyond it the next reconnect re-sends them (duplicates, not losses). */
const MAX_ACKS_TO_RETRY = 100_000;

function storeError(what: string, path: string, err: unknown): LinesightError {
  if (err instanceof LinesightError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  return new LinesightError('E_STORE', `Expected to ${what} in ${path} but SQLite failed: ${errorMessage(err)}`, {
    cause: err,
    details: { sqliteCode: code },
  });
}
