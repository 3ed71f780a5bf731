import type { Clock } from '../clock.js';
import type { Unsubscribe } from '../listeners.js';
import type { AggregateStore } from './aggregate-store.js';
import type { DiskWatch, DiskWatchOptions } from './disk-watch.js';
import type { StoreHealthSnapshot } from './health.js';
import type { PicturesTable } from './pictures.js';
import type { FreeSpaceReader } from './space.js';
import type { Box, DefectEvent, ProductionContext } from '../types.js';
import type { HealthChange } from '../health/types.js';
import type { SparkplugLedger } from './sparkplug-ledger.js';

export type OutboxFullPolicy = 'drop_oldest' | 'reject_new';

export interface StoreOptions {
  /** Most unsent alerts kept; beyond it `outboxFullPolicy` applies. */
  outboxMaxRows: number;
  outboxFullPolicy: OutboxFullPolicy;
  /** Times the health's episodes and the disk watch. Default: the system clock. */
  clock?: Clock;
  /** Reads the free space of the database's filesystem (tests inject one). Default: statfs of its folder. */
  freeBytes?: FreeSpaceReader;
}

/** The detector that produced an alert, recorded with it so a replay after an upgrade still names it. */
export interface ModelRef {
  name: string;
  version: string;
}

/**
 * `queued`: in the outbox. `dropped_oldest`: queued, but the outbox was full and
 * its oldest alert was dropped. `rejected`: the outbox was full and this alert was
 * not queued (it is kept in the alert history and consumed its `seq`, so
 * subscribers can see the gap).
 */
export type RecordOutcome = 'queued' | 'dropped_oldest' | 'rejected';

export interface RecordResult {
  seq: number;
  outcome: RecordOutcome;
}

/** One unsent alert, as the publisher drains it. */
export interface OutboxItem {
  /** Outbox row id; increases with insertion, so it orders `seq` within each camera. */
  id: number;
  seq: number;
  event: DefectEvent;
  model?: ModelRef;
  /** ms since epoch when the row was committed. */
  createdAt: number;
  /** The alert waited through an outage (created while disconnected, or an attempt got no PUBACK). */
  replayed: boolean;
}

/** `queued` until PUBACK (`sent`), or lost to the outbox bound (`dropped`, `rejected`). */
export type AlertStatus = 'queued' | 'sent' | 'dropped' | 'rejected';

export interface AlertRecord extends DefectEvent {
  seq: number;
  model?: ModelRef;
  status: AlertStatus;
  createdAt: number;
  sentAt?: number;
}

export interface OutboxCounters {
  /** Alerts waiting for a PUBACK. */
  depth: number;
  /** Oldest alerts removed to make room (policy drop_oldest), since the database was created. */
  dropped: number;
  /** New alerts refused (policy reject_new), since the database was created. */
  rejected: number;
}

/** The part of the store the publisher drains. */
export interface Outbox {
  /** Unsent alerts with id > `afterId`, oldest first. */
  pendingBatch(limit: number, afterId?: number): OutboxItem[];
  /** Removes acknowledged rows; returns how many were still there. */
  markSent(ids: readonly number[], at?: number): number;
  /** Flags every unsent alert as replayed; returns how many changed. */
  markAllReplayed(): number;
  depth(camera?: string): number;
  counters(): OutboxCounters;
}

/** A change of a camera's health as the store records it: the change and its event id. */
export interface HealthEvent extends HealthChange {
  /** UUIDv7, time-ordered; the subscriber's dedup key. */
  id: string;
  /** The production context in force when the new state began (stored with the event). */
  context?: ProductionContext;
}

/** One unsent health event, as the publisher drains it. */
export interface HealthOutboxItem {
  /** Position in the table; increases with insertion, so it orders the events of each camera. */
  id: number;
  event: HealthEvent;
  /** ms since epoch when the row was committed. */
  createdAt: number;
  /** It waited through an outage (created while disconnected, or an attempt got no PUBACK). */
  replayed: boolean;
}

/** A health event of the history, sent or not. */
export interface HealthRecord extends HealthEvent {
  createdAt: number;
  /** PUBACK time; absent while the event waits in the outbox. */
  sentAt?: number;
}

/** The part of the store the health drain reads: unsent health events, marked sent on PUBACK. */
export interface HealthOutbox {
  /** Unsent health events with id > `afterId`, oldest first. */
  pendingBatch(limit: number, afterId?: number): HealthOutboxItem[];
  /** Marks acknowledged events sent; returns how many were still unsent. */
  markSent(ids: readonly number[], at?: number): number;
  /** Flags every unsent event as replayed; returns how many changed. */
  markAllReplayed(): number;
  /** Unsent health events (of one camera). */
  depth(camera?: string): number;
}

/** What an operator said: an alert was a real defect, a false alarm, or the model missed a defect. */
export type VerdictKind = 'confirmed' | 'false_alarm' | 'missed';

/** An operator's verdict as the store records it (times in ms since epoch). */
export interface Verdict {
  /** UUIDv7, time-ordered; the subscriber's dedup key. */
  id: string;
  /** The alert judged; null for a missed defect. */
  alertId: string | null;
  camera: string;
  verdict: VerdictKind;
  className: string;
  /** Source-frame pixels, top-left; the alert's box for a judged alert, the operator's for a missed defect. */
  box: Box;
  frame: { width: number; height: number; ts: number };
  /** Station or operator name as the page sent it. */
  operator: string;
  /** When the operator gave it. */
  ts: number;
  /** Id of the verdict this one supersedes (same alert, or the missed defect it withdraws). */
  replaces?: string;
  /**
   * The operator took back the missed defect `replaces` names: there was none
   * (a box drawn by mistake). Same class, box and frame as that one; never set
   * on a verdict of an alert.
   */
  withdrawn?: true;
  /** The production context in force when the judged frame was captured: the alert's own, or for a missed defect the one at its frame's time. */
  context?: ProductionContext;
}

/** A verdict on an alert before the store fills in what it takes from the alert (camera, class, box, frame). */
export type AlertVerdictInput = Pick<Verdict, 'id' | 'operator' | 'ts'> & { alertId: string; verdict: 'confirmed' | 'false_alarm'; replace: boolean };

/** Taking back missed defect `verdictId`: the withdrawal's own id, who and when. */
export interface WithdrawInput {
  id: string;
  verdictId: string;
  operator: string;
  ts: number;
}

/** The outcome of judging an alert: the stored verdict and the one it superseded, if any. */
export interface JudgedAlert {
  verdict: Verdict;
  superseded?: Verdict;
}

/** One unsent verdict, as the publisher drains it. */
export interface VerdictOutboxItem {
  /** Position in the table; increases with insertion. */
  id: number;
  verdict: Verdict;
  createdAt: number;
  /** It waited through an outage (created while disconnected, or an attempt got no PUBACK). */
  replayed: boolean;
}

/** The part of the store the verdict drain reads, as HealthOutbox for health events. */
export interface VerdictOutbox {
  pendingBatch(limit: number, afterId?: number): VerdictOutboxItem[];
  markSent(ids: readonly number[], at?: number): number;
  markAllReplayed(): number;
  depth(camera?: string): number;
}

/** Operator verdicts: recorded in one transaction each, published through their outbox. */
export interface VerdictStore {
  /**
   * Judges alert `input.alertId` in one transaction: checks it exists (else
   * VerdictRefusal `unknown_alert`) and its current verdict (one present and no
   * `replace`: `already_judged`), then records the verdict, unsent.
   */
  judgeAlert(input: AlertVerdictInput): JudgedAlert;
  /** Records a missed defect, unsent; durable when it returns. */
  recordMissed(verdict: Verdict): void;
  /**
   * Takes back missed defect `input.verdictId` in one transaction: checks it is
   * a standing missed defect (else VerdictRefusal `unknown_verdict`,
   * `bad_request` for a verdict on an alert or a withdrawal itself,
   * `already_withdrawn`), then records the withdrawal, unsent, and returns it.
   */
  withdrawMissed(input: WithdrawInput): Verdict;
  /** The last `limit` missed verdicts (defects drawn and withdrawals), oldest first. */
  recentMissed(limit: number): Verdict[];
  /** The latest verdict of each of these alerts that has one. */
  latestVerdicts(alertIds: readonly string[]): Map<string, Verdict>;
  readonly verdictOutbox: VerdictOutbox;
}

export interface Store extends Outbox, VerdictStore {
  readonly path: string;
  /** Records the alert, its outbox row and its per-camera seq in one transaction. */
  recordEvent(event: DefectEvent, model?: ModelRef): RecordResult;
  recentAlerts(options: { limit: number; since?: number; camera?: string }): AlertRecord[];
  /** Deletes sent (or lost) alerts captured more than `days` ago, and sent verdicts given more than `days` ago, a chunk per transaction. */
  purgeOlderThan(days: number, options?: { chunk?: number; now?: number }): Promise<number>;
  /** `PRAGMA integrity_check` rows: `['ok']` when healthy. */
  integrityCheck(): string[];
  /** The per-minute statistics on this store's own connection (one connection per database file). */
  statistics(): AggregateStore;
  /** The pictures kept for training (their rows; the files are src/capture's), on this store's own connection. */
  pictures(): PicturesTable;
  /** The Sparkplug edge node's bdSeq and alert cursor, on this store's connection. */
  sparkplugLedger(): SparkplugLedger;
  /**
   * `ok`, `full` or `failing`, from the outcome of the last write, with the
   * free space of the filesystem and the count of alerts that went out unstored.
   */
  health(): StoreHealthSnapshot;
  /** Called once per change of the health's state. */
  onHealthChange(fn: (health: StoreHealthSnapshot) => void): Unsubscribe;
  /**
   * For an alert whose commit failed and that goes to the broker anyway: its
   * seq, continuing its camera's sequence in memory (the next commit of the
   * camera continues after it), and one more in the `unstored` count.
   */
  allocateUnstored(camera: string): number;
  /** Records a camera health event in the history, unsent (its outbox), in one transaction; durable when it returns. */
  recordHealth(event: HealthEvent): void;
  /** The health events' outbox, for the publisher's health drain. */
  readonly healthOutbox: HealthOutbox;
  /** Health events of the history, newest first. */
  recentHealth(options: { limit: number; since?: number; camera?: string }): HealthRecord[];
  /** Deletes sent health events older than `days`, a chunk per transaction (unsent ones stay, whatever their age). */
  purgeHealthOlderThan(days: number, options?: { chunk?: number; now?: number }): Promise<number>;
  /** Starts watching free space (see DiskWatch); stopped by `close()`. */
  watchDisk(options: DiskWatchOptions): DiskWatch;
  /** Closes the connection (the statistics' too). */
  close(): void;
}
