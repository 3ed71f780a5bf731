import { LinesightError, describeValue, errorMessage, isLinesightError } from '../errors.js';
import { DAY_MS, minuteOf, systemClock } from '../store/clock.js';
import type { Batch } from './batch.js';
import { writeBatchFile } from './file-target.js';
import { deliverHttp, describeBatch, redactUrl, type HttpTarget } from './http-target.js';
import { SyncLedger } from './ledger.js';
import { planBatch, type BatchLimits } from './planner.js';
import { Scheduler, parseSchedule } from './schedule.js';
import { DEFAULT_TUNING, type Backlog, type LastRun, type Sync, type SyncOptions, type SyncResult, type SyncStatus } from './types.js';

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
  const { config, site, line, store } = options;
  const log = options.log.child({ stage: 'sync' });
  const clock = options.clock ?? systemClock;
  const tuning = { ...DEFAULT_TUNING, ...options.tuning };
  const schedule = parseSchedule(config.schedule, options.timeZone);
  const url = config.url === undefined ? undefined : checkUrl(config.url);
  const target = url === undefined ? 'dir' : 'http';
  const destination = url === undefined ? config.dir : redactUrl(url);
  const limits: BatchLimits = { maxRows: tuning.maxRowsPerBatch, maxBytes: tuning.maxBytesPerBatch };
  const meta = { site, line };
  const ledger = new SyncLedger(store.db);
  const retentionMs = (options.retentionDays ?? 30) * DAY_MS;

  if (url !== undefined && new URL(url).protocol === 'http:' && config.token !== undefined && !isLoopback(url)) {
    log.warn({ url: destination }, 'sync.url is plain http: the bearer token travels unencrypted; use https');
  }

  const http: HttpTarget | undefined = url === undefined ? undefined : {
    url,
    token: config.token,
    fetchImpl: options.fetchImpl ?? fetch,
    clock,
    tuning,
    random: options.random ?? Math.random,
    log,
    userAgent: `linesight/${options.version ?? '0'}`,
    onFailedAttempt: (batch, reason) => ledger.recordAttempt(batch.key, reason),
  };

  let running: Promise<SyncResult> | undefined;
  let lastRun: LastRun | undefined;
  let abort: AbortController | undefined;
  let backlogCache: { at: number; value: Backlog } | undefined;
  const scheduler = new Scheduler(schedule, clock, (scheduledFor) => {
    if (running) {
      log.warn({ scheduledFor: new Date(scheduledFor).toISOString() }, 'scheduled upload skipped: the previous run is still going');
      return;
    }
    void runOnce();
  });

  function backlog(fresh = false): Backlog {
    const now = clock.now();
    if (!fresh && backlogCache && now - backlogCache.at < BACKLOG_CACHE_MS) return backlogCache.value;
    const { rows, minutes } = store.countSince(ledger.acknowledgedUntil() ?? 0);
    const value = { rows, minutes, pendingBatches: ledger.pendingCount() };
    backlogCache = { at: now, value };
    return value;
  }

  async function deliver(batch: Batch, signal: AbortSignal): Promise<number> {
    if (http) return (await deliverHttp(batch, http, signal)).answer;
    writeBatchFile(config.dir, meta, batch);
    return 0;
  }

  async function run(signal: AbortSignal): Promise<SyncResult> {
    const startedAt = clock.now();
    // Only minutes that ended a while ago: the aggregator may still be writing the latest ones.
    const ceiling = minuteOf(startedAt - tuning.settleMs);
    let batches = 0;
    let duplicates = 0;
    let rows = 0;
    let error: LinesightError | undefined;
    try {
      for (;;) {
        let batch = ledger.pending();
        if (!batch) {
          const from = ledger.plannedUntil();
          batch = planBatch(store, meta, from, ceiling, limits);
          if (!batch) break;
          if (!ledger.plan(batch, from, clock.now())) continue;
        }
        const answer = await deliver(batch, signal);
        ledger.markDone(batch, answer, clock.now());
        batches += 1;
        rows += batch.rowCount;
        if (answer === 409) duplicates += 1;
        log.debug({ key: batch.key, answer, rows: batch.rowCount }, `batch ${describeBatch(batch)} settled`);
      }
      ledger.purgeDone(clock.now() - retentionMs);
    } catch (err) {
      error = asSyncError(err, signal);
    }
    const finishedAt = clock.now();
    const outcome = error ? 'failed' : batches > 0 ? 'uploaded' : 'up_to_date';
    const result: SyncResult = {
      ok: !error, outcome, target, batches, duplicates, rows, startedAt, finishedAt, backlog: safeBacklog(), ...(error ? { error } : {}),
    };
    persist(result);
    report(result);
    return result;
  }

  function safeBacklog(): Backlog {
    try {
      return backlog(true);
    } catch {
      return backlogCache?.value ?? { rows: 0, minutes: 0, pendingBatches: 0 };
    }
  }

  function persist(result: SyncResult): void {
    const last: LastRun = {
      ok: result.ok, outcome: result.outcome, startedAt: result.startedAt, finishedAt: result.finishedAt, batches: result.batches, rows: result.rows,
      ...(result.error ? { error: { code: result.error.code, message: result.error.message } } : {}),
    };
    try {
      ledger.saveRun(last);
    } catch (err) {
      log.warn({ code: 'E_STORE', err: errorMessage(err) }, 'could not record the upload run in the database; status shows it until restart');
    }
    lastRun = last;
  }

  function report(result: SyncResult): void {
    const fields = { target, destination, batches: result.batches, rows: result.rows, duplicates: result.duplicates, backlog: result.backlog, ms: result.finishedAt - result.startedAt };
    if (result.error) {
      const next = scheduler.nextRunAt === undefined ? '' : `; next scheduled run ${new Date(scheduler.nextRunAt).toISOString()}`;
      log.warn({ ...fields, code: result.error.code, err: result.error.message }, `upload stopped: ${result.error.message}${next}`);
    } else {
      log.info(fields, result.batches > 0 ? `uploaded ${result.batches} batch(es), ${result.rows} records` : 'upload: nothing new to send');
    }
  }

  function runOnce(): Promise<SyncResult> {
    if (running) return running;
    abort = new AbortController();
    const signal = abort.signal;
    running = run(signal).finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    runOnce,
    startSchedule() {
      scheduler.start();
      log.info({ schedule: schedule.expression, timeZone: schedule.timeZone, next: new Date(scheduler.nextRunAt ?? 0).toISOString(), target, destination },
        'upload scheduled');
    },
    async stop() {
      scheduler.stop();
      abort?.abort(new LinesightError('E_SYNC', 'Expected the upload to finish but linesight is stopping; the batch stays queued'));
      await running;
    },
    status(): SyncStatus {
      lastRun ??= ledger.lastRun();
      const acked = ledger.acknowledgedUntil();
      const lastSuccessAt = ledger.lastSuccessAt();
      return {
        target,
        destination,
        running: running !== undefined,
        ...(lastRun ? { lastRun } : {}),
        ...(lastSuccessAt === undefined ? {} : { lastSuccessAt }),
        ...(acked === undefined ? {} : { acknowledgedUntil: acked }),
        backlog: backlog(),
        ...(scheduler.nextRunAt === undefined ? {} : { nextRunAt: scheduler.nextRunAt }),
      };
    },
  };
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
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw new LinesightError('E_CONFIG', `sync.url: expected an https:// (or http://) URL of the upload endpoint but received ${describeValue(url)}`);
  }
  return url;
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}
