import { isoTime } from '../clock.js';
import type { SyncResult, SyncStatus } from './types.js';

/** The `sync` part of the node status topic (`{prefix}/{site}/{line}/status`). */
export interface SyncStatusPayload {
  target: 'http' | 'dir';
  last_run: string | null;
  last_result: 'uploaded' | 'up_to_date' | 'failed' | null;
  last_error: { code: string; message: string } | null;
  last_success: string | null;
  /** Minutes before this are in the cloud. */
  acknowledged_until: string | null;
  backlog_rows: number;
  backlog_minutes: number;
  pending_batches: number;
  next_run: string | null;
  running: boolean;
}

export function syncStatusPayload(status: SyncStatus): SyncStatusPayload {
  const last = status.lastRun;
  return {
    target: status.target,
    last_run: last ? isoTime(last.finishedAt) : null,
    last_result: last?.outcome ?? null,
    last_error: last?.error ?? null,
    last_success: status.lastSuccessAt === undefined ? null : isoTime(status.lastSuccessAt),
    acknowledged_until: status.acknowledgedUntil === undefined ? null : isoTime(status.acknowledgedUntil),
    backlog_rows: status.backlog.rows,
    backlog_minutes: status.backlog.minutes,
    pending_batches: status.backlog.pendingBatches,
    next_run: status.nextRunAt === undefined ? null : isoTime(status.nextRunAt),
    running: status.running,
  };
}

/**
 * One line for `linesight sync --now`.
 *
 * @example
 * // "uploaded 3 batch(es), 2880 records to https://cloud.example/ingest in 1.2 s; backlog 0 records"
 */
export function formatSyncResult(result: SyncResult, destination: string): string {
  const secs = ((result.finishedAt - result.startedAt) / 1000).toFixed(1);
  const where = `${result.target === 'http' ? 'to' : 'into'} ${destination}`;
  const backlog = `backlog ${result.backlog.rows} records (${result.backlog.minutes} minutes)`;
  if (result.error) {
    return `upload failed after ${result.batches} batch(es), ${result.rows} records ${where} in ${secs} s; ${backlog}\n${result.error.code}: ${result.error.message}`;
  }
  if (result.batches === 0) return `nothing new to upload ${where}; ${backlog}`;
  const dup = result.duplicates > 0 ? ` (${result.duplicates} already there)` : '';
  return `uploaded ${result.batches} batch(es)${dup}, ${result.rows} records ${where} in ${secs} s; ${backlog}`;
}
