export { openStore } from './open.js';
export type {
  AlertRecord, AlertStatus, ModelRef, Outbox, OutboxCounters, OutboxFullPolicy, OutboxItem, RecordOutcome, RecordResult, Store, StoreOptions,
} from './types.js';
