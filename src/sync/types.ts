import type { SyncConfig } from '../config/schema.js';
import type { LinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AggregateStore } from '../store/aggregate-store.js';
import type { BatchExtras } from './batch.js';
import type { Clock } from '../clock.js';

export type SyncTarget = 'http' | 'dir';

/** Knobs with production defaults; tests shrink them. */
export interface SyncTuning {
  /** Per HTTP attempt, request and response included. Default 60 000. */
  requestTimeoutMs: number;
  /** Attempts per batch within one run before the run gives up (the batch stays queued). Default 8. */
  maxAttempts: number;
  /** Full-jitter backoff: the wait after the n-th failed attempt is uniform in [0, min(backoffMaxMs, backoffBaseMs·2ⁿ⁻¹)]. Defaults 1 000 and 60 000. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Longest `Retry-After` honoured; a longer one is cut to this. Default 300 000. */
  retryAfterMaxMs: number;
  /** Batch size limits (see BatchLimits). Defaults 10 000 records, 8 MiB of JSON. */
  maxRowsPerBatch: number;
  maxBytesPerBatch: number;
  /** Minutes that ended less than this ago are left for the next run (the aggregator may still write them). Default 120 000. */
  settleMs: number;
}

export const DEFAULT_TUNING: SyncTuning = {
  requestTimeoutMs: 60_000,
  maxAttempts: 8,
  backoffBaseMs: 1000,
  backoffMaxMs: 60_000,
  retryAfterMaxMs: 300_000,
  maxRowsPerBatch: 10_000,
  maxBytesPerBatch: 8 * 1024 * 1024,
  settleMs: 120_000,
};

export interface SyncOptions {
  config: SyncConfig;
  site: string;
  line: string;
  store: AggregateStore;
  log: Logger;
  clock?: Clock;
  fetchImpl?: typeof fetch;
  /** IANA zone the cron expression is read in; default the box's own. */
  timeZone?: string;
  /** `store.retention_days`: how long settled batch records are kept in the ledger. Default 30. */
  retentionDays?: number;
  tuning?: Partial<SyncTuning>;
  /** Source of jitter, [0, 1). */
  random?: () => number;
  /** Sent as User-Agent: `linesight/<version>`. */
  version?: string;
  /** What a batch carries beside its rows for its period (shadow-run comparisons, the production timeline): `lineBatchExtras`. */
  extras?(start: number, end: number): BatchExtras;
}

export type SyncOutcome = 'uploaded' | 'up_to_date' | 'failed';

export interface SyncResult {
  ok: boolean;
  outcome: SyncOutcome;
  target: SyncTarget;
  /** Batches settled in this run, of which `duplicates` the cloud already had (409). */
  batches: number;
  duplicates: number;
  /** Camera-minute records in those batches. */
  rows: number;
  startedAt: number;
  finishedAt: number;
  /** What is still waiting after the run. */
  backlog: Backlog;
  /** Why the run stopped early (E_SYNC, E_STORE); the batch in question stays queued. */
  error?: LinesightError;
}

export interface Backlog {
  /** Camera-minute records not yet acknowledged. */
  rows: number;
  /** Distinct minutes among them. */
  minutes: number;
  /** Batches built and waiting (0 or 1). */
  pendingBatches: number;
}

/** The last run, as persisted (survives restarts). */
export interface LastRun {
  ok: boolean;
  outcome: SyncOutcome;
  startedAt: number;
  finishedAt: number;
  batches: number;
  rows: number;
  error?: { code: string; message: string };
}

export interface SyncStatus {
  target: SyncTarget;
  /** The URL (credentials removed) or the directory. */
  destination: string;
  running: boolean;
  lastRun?: LastRun;
  lastSuccessAt?: number;
  /** Records with a minute before this are acknowledged; undefined before the first success. */
  acknowledgedUntil?: number;
  backlog: Backlog;
  /** When the schedule fires next; undefined when it is not started. */
  nextRunAt?: number;
}

export interface Sync {
  /** Uploads everything settled and not yet acknowledged. Never rejects: failures are in the result. Concurrent calls share one run. */
  runOnce(): Promise<SyncResult>;
  /** Arms the cron schedule (`sync.schedule`, box time zone). */
  startSchedule(): void;
  /** Disarms the schedule and aborts a run in progress (its batch stays queued); resolves when the run has settled. */
  stop(): Promise<void>;
  status(): SyncStatus;
}
