import { urlScheme } from '../config/url.js';
import { LinesightError, describeValue, errorMessage, isLinesightError } from '../errors.js';
import { DAY_MS, keepAlive, minuteOf, systemClock, type Clock } from '../clock.js';
import type { Batch } from './batch.js';
import { writeBatchFile } from './file-target.js';
import { redactUrl } from '../config/url.js';
import { deliverHttp, describeBatch, type HttpTarget } from './http-target.js';
import { SyncLedger } from './ledger.js';
import { planBatch, type BatchLimits } from './planner.js';
import { Scheduler, parseSchedule, type Schedule } from './schedule.js';
import { DEFAULT_TUNING, type Backlog, type LastRun, type Sync, type SyncOptions, type SyncResult, type SyncStatus, type SyncTuning } from './types.js';

/** How long `status()` reuses a backlog count: the status topic asks every few seconds. */
const BACKLOG_CACHE_MS = 30_000;

/**
 * The nightly upload of per-minute statistics. Validates `sync.schedule` and
 * `sync.url` at once (E_CONFIG). Each run sends, oldest first, every record not
 * yet acknowledged, one batch at a time: the batch is stored (bytes included)
 * before its first attempt and marked done only once the cloud answered 2xx or
 * 409 for its key (or its file was renamed into place), so a kill at any moment
 * re-sends the same bytes under the same key. Without `sync.url` the batches go
 * to `sync.dir` as gzip NDJSON files.
 *
 * @example
 * const sync = createSync({ config: config.sync, site: config.site, line: config.line, store: stats, log });
 * sync.startSchedule();                  // nightly
 * const result = await sync.runOnce();   // linesight sync --now
 * if (!result.ok) throw result.error;
 */
export function createSync(options: SyncOptions): Sync {
  return new CloudSync(options);
}

/** What a run reports and keeps. */
interface RunCounts {
  batches: number;
  duplicates: number;
  rows: number;
}

class CloudSync implements Sync {
  private readonly log: SyncOptions['log'];
  private readonly clock: Clock;
  private readonly tuning: SyncTuning;
  private readonly schedule: Schedule;
  private readonly target: 'dir' | 'http';
  private readonly destination: string;
  private readonly limits: BatchLimits;
  private readonly ledger: SyncLedger;
  private readonly retentionMs: number;
  private readonly http: HttpTarget | undefined;
  private readonly scheduler: Scheduler;
  private running: Promise<SyncResult> | undefined;
  private lastRun: LastRun | undefined;
  private abort: AbortController | undefined;
  private backlogCache: { at: number; value: Backlog } | undefined;

  constructor(private readonly options: SyncOptions) {
    const { config } = options;
    this.log = options.log.child({ stage: 'sync' });
    this.clock = options.clock ?? systemClock;
    this.tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.schedule = parseSchedule(config.schedule, options.timeZone);
    const url = config.url === undefined ? undefined : checkUrl(config.url);
    this.target = url === undefined ? 'dir' : 'http';
    this.destination = url === undefined ? config.dir : redactUrl(url);
    this.limits = { maxRows: this.tuning.maxRowsPerBatch, maxBytes: this.tuning.maxBytesPerBatch };
    this.ledger = new SyncLedger(options.store.db);
    this.retentionMs = (options.retentionDays ?? 30) * DAY_MS;
    if (url !== undefined && new URL(url).protocol === 'http:' && config.token !== undefined && !isLoopback(url)) {
      this.log.warn({ url: this.destination }, 'sync.url is plain http: the bearer token travels unencrypted; use https');
    }
    this.http = url === undefined ? undefined : {
      url,
      token: config.token,
      fetchImpl: options.fetchImpl ?? fetch,
      clock: this.clock,
      tuning: this.tuning,
      random: options.random ?? Math.random,
      log: this.log,
      userAgent: `linesight/${options.version ?? '0'}`,
      onFailedAttempt: (batch, reason) => this.ledger.recordAttempt(batch.key, reason),
    };
    this.scheduler = new Scheduler(this.schedule, this.clock, (scheduledFor) => {
      if (this.running) {
        this.log.warn({ scheduledFor: new Date(scheduledFor).toISOString() }, 'scheduled upload skipped: the previous run is still going');
        return;
      }
      void this.runOnce();
    });
  }

  runOnce(): Promise<SyncResult> {
    if (this.running) return this.running;
    this.abort = new AbortController();
    // The retries wait on unref'd timers (an idle schedule must never hold a process open); a run
    // under way is work, so this handle keeps the process alive until it settles (`sync --now`).
    const release = keepAlive();
    this.running = this.run(this.abort.signal).finally(() => {
      release();
      this.running = undefined;
    });
    return this.running;
  }

  startSchedule(): void {
    this.scheduler.start();
    this.log.info({
      schedule: this.schedule.expression, timeZone: this.schedule.timeZone, next: new Date(this.scheduler.nextRunAt ?? 0).toISOString(),
      target: this.target, destination: this.destination,
    }, 'upload scheduled');
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    this.abort?.abort(new LinesightError('E_SYNC', 'Expected the upload to finish but linesight is stopping; the batch stays queued'));
    await this.running;
  }

  status(): SyncStatus {
    this.lastRun ??= this.ledger.lastRun();
    const acked = this.ledger.acknowledgedUntil();
    const lastSuccessAt = this.ledger.lastSuccessAt();
    return {
      target: this.target,
      destination: this.destination,
      running: this.running !== undefined,
      ...(this.lastRun ? { lastRun: this.lastRun } : {}),
      ...(lastSuccessAt === undefined ? {} : { lastSuccessAt }),
      ...(acked === undefined ? {} : { acknowledgedUntil: acked }),
      backlog: this.backlog(),
      ...(this.scheduler.nextRunAt === undefined ? {} : { nextRunAt: this.scheduler.nextRunAt }),
    };
  }

  private backlog(fresh = false): Backlog {
    const now = this.clock.now();
    if (!fresh && this.backlogCache && now - this.backlogCache.at < BACKLOG_CACHE_MS) return this.backlogCache.value;
    const { rows, minutes } = this.options.store.countSince(this.ledger.acknowledgedUntil() ?? 0);
    const value = { rows, minutes, pendingBatches: this.ledger.pendingCount() };
    this.backlogCache = { at: now, value };
    return value;
  }

  private safeBacklog(): Backlog {
    try {
      return this.backlog(true);
    } catch {
      return this.backlogCache?.value ?? { rows: 0, minutes: 0, pendingBatches: 0 };
    }
  }

  private async deliver(batch: Batch, signal: AbortSignal): Promise<number> {
    if (this.http) return (await deliverHttp(batch, this.http, signal)).answer;
    writeBatchFile(this.options.config.dir, { site: this.options.site, line: this.options.line }, batch);
    return 0;
  }

  /** Sends every batch up to `ceiling`, oldest first: a stored pending batch, else the next one planned. */
  private async sendAll(ceiling: number, signal: AbortSignal, counts: RunCounts): Promise<void> {
    const meta = { site: this.options.site, line: this.options.line };
    for (;;) {
      let batch = this.ledger.pending();
      if (!batch) {
        const from = this.ledger.plannedUntil();
        batch = planBatch(this.options.store, meta, from, ceiling, this.limits, (s, e) => this.options.extras?.(s, e) ?? {});
        if (!batch) return;
        if (!this.ledger.plan(batch, from, this.clock.now())) continue;
      }
      const answer = await this.deliver(batch, signal);
      this.ledger.markDone(batch, answer, this.clock.now());
      counts.batches += 1;
      counts.rows += batch.rowCount;
      if (answer === 409) counts.duplicates += 1;
      this.log.debug({ key: batch.key, answer, rows: batch.rowCount }, `batch ${describeBatch(batch)} settled`);
    }
  }

  private async run(signal: AbortSignal): Promise<SyncResult> {
    const startedAt = this.clock.now();
    // Only minutes that ended a while ago: the aggregator may still be writing the latest ones.
    const ceiling = minuteOf(startedAt - this.tuning.settleMs);
    const counts: RunCounts = { batches: 0, duplicates: 0, rows: 0 };
    let error: LinesightError | undefined;
    try {
      await this.sendAll(ceiling, signal, counts);
      this.ledger.purgeDone(this.clock.now() - this.retentionMs);
    } catch (err) {
      error = asSyncError(err, signal);
    }
    const finishedAt = this.clock.now();
    const outcome = error ? 'failed' : counts.batches > 0 ? 'uploaded' : 'up_to_date';
    const result: SyncResult = {
      ok: !error, outcome, target: this.target, ...counts, startedAt, finishedAt, backlog: this.safeBacklog(), ...(error ? { error } : {}),
    };
    this.persist(result);
    this.report(result);
    return result;
  }

  private persist(result: SyncResult): void {
    const last: LastRun = {
      ok: result.ok, outcome: result.outcome, startedAt: result.startedAt, finishedAt: result.finishedAt, batches: result.batches, rows: result.rows,
      ...(result.error ? { error: { code: result.error.code, message: result.error.message } } : {}),
    };
    try {
      this.ledger.saveRun(last);
    } catch (err) {
      this.log.warn({ code: 'E_STORE', err: errorMessage(err) }, 'could not record the upload run in the database; status shows it until restart');
    }
    this.lastRun = last;
  }

  private report(result: SyncResult): void {
    const fields = {
      target: this.target, destination: this.destination, batches: result.batches, rows: result.rows, duplicates: result.duplicates,
      backlog: result.backlog, ms: result.finishedAt - result.startedAt,
    };
    if (result.error) {
      const nextAt = this.scheduler.nextRunAt;
      const next = nextAt === undefined ? '' : `; next scheduled run ${new Date(nextAt).toISOString()}`;
      this.log.warn({ ...fields, code: result.error.code, err: result.error.message }, `upload stopped: ${result.error.message}${next}`);
    } else {
      this.log.info(fields, result.batches > 0 ? `uploaded ${result.batches} batch(es), ${result.rows} records` : 'upload: nothing new to send');
    }
  }
}

function asSyncError(err: unknown, signal: AbortSignal): LinesightError {
  if (signal.aborted && isLinesightError(signal.reason)) return signal.reason;
  if (err instanceof LinesightError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE')) {
    return new LinesightError('E_STORE', `Expected to read or update the upload ledger but SQLite failed: ${errorMessage(err)}`, { cause: err });
  }
  return new LinesightError('E_SYNC', `Expected the upload to run but it failed: ${errorMessage(err)}`, { cause: err });
}

function checkUrl(url: string): string {
  const scheme = urlScheme(url);
  if (scheme !== 'https:' && scheme !== 'http:') {
    throw new LinesightError('E_CONFIG', `sync.url: expected an https:// (or http://) URL of the upload endpoint but received ${describeValue(url)}`);
  }
  return url;
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}
