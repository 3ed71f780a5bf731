export { createSync } from './sync.js';
export { parseSchedule, type Schedule } from './schedule.js';
export { localTimeZone } from '../config/cron.js';
export { AGGREGATES_SCHEMA, idempotencyKey, type BatchDocument, type WireRow } from './batch.js';
export { batchFileName } from './file-target.js';
export { formatSyncResult, syncStatusPayload, type SyncStatusPayload } from './status.js';
export { DEFAULT_TUNING } from './types.js';
export type { Backlog, LastRun, Sync, SyncOptions, SyncOutcome, SyncResult, SyncStatus, SyncTarget, SyncTuning } from './types.js';
