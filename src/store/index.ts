export { openStore } from './open.js';
export type { DiskCheck, DiskWatch, DiskWatchOptions } from './disk-watch.js';
export { STORE_STATES, type StoreHealthSnapshot, type StoreState } from './health.js';
export { registerStoreMetrics, type StoreMetricsSource } from './store-metrics.js';
export type { LedgerAlert, SparkplugLedger } from './sparkplug-ledger.js';
export type {
  AlertRecord, AlertStatus, AlertVerdictInput, HealthEvent, HealthOutbox, HealthOutboxItem, HealthRecord, ModelRef, Outbox, OutboxCounters, OutboxFullPolicy, OutboxItem, RecordOutcome, RecordResult, Store, StoreOptions,
  JudgedAlert, Verdict, VerdictKind, VerdictOutbox, VerdictOutboxItem, VerdictStore, WithdrawInput,
} from './types.js';
