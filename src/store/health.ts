import { systemClock, type Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import { Listeners, type Unsubscribe } from '../listeners.js';
import type { Logger } from '../log.js';
import { statfsFreeBytes, toMb, writeFailureKind, type FreeSpaceReader } from './space.js';

/** `ok`: writes commit. `full`: the filesystem has no room. `failing`: writes fail for another reason. */
export type StoreState = 'ok' | 'full' | 'failing';

export const STORE_STATES: readonly StoreState[] = ['ok', 'full', 'failing'];

export interface StoreHealthSnapshot {
  state: StoreState;
  /** Free bytes of the database's filesystem, read now; undefined when unknown (in-memory database). */
  freeBytes: number | undefined;
  /** Alerts published without being stored (their commit failed), since start. */
  unstored: number;
  /** Wall time (ms) the current state began; undefined while ok. */
  since?: number;
  /** Why the last write failed, while not ok. */
  lastError?: string;
}

export interface StoreHealthOptions {
  path: string;
  log: Logger;
  clock?: Clock;
  freeBytes?: FreeSpaceReader;
}

/**
 * The store's health, from the outcome of its writes: a write that fails for
 * lack of room turns it `full`, one that fails otherwise `failing`, and the
 * next write that commits turns it `ok`. Each change is logged once (error on
 * the way down, info on the way back) and announced to listeners, so callers
 * that fail once per alert never log once per alert.
 */
export class StoreHealth {
  private state: StoreState = 'ok';
  private sinceWall = 0;
  private sinceMono = 0;
  private lastError: string | undefined;
  private unstoredTotal = 0;
  private unstoredNow = 0;
  private readonly clock: Clock;
  private readonly readFree: FreeSpaceReader;
  private readonly changes = new Listeners<[StoreHealthSnapshot]>();
  private readonly failures = new Listeners<[]>();

  constructor(private readonly opts: StoreHealthOptions) {
    this.clock = opts.clock ?? systemClock;
    this.readFree = opts.freeBytes ?? statfsFreeBytes;
  }

  get current(): StoreState {
    return this.state;
  }

  freeBytes(): number | undefined {
    return this.readFree(this.opts.path);
  }

  snapshot(): StoreHealthSnapshot {
    const ok = this.state === 'ok';
    return {
      state: this.state,
      freeBytes: this.freeBytes(),
      unstored: this.unstoredTotal,
      ...(ok ? {} : { since: this.sinceWall, lastError: this.lastError }),
    };
  }

  /** Called with the new snapshot whenever the state changes. */
  onChange(fn: (snapshot: StoreHealthSnapshot) => void): Unsubscribe {
    return this.changes.add(fn);
  }

  /** Called after every write that failed for lack of room or of a working disk. */
  onWriteFailed(fn: () => void): Unsubscribe {
    return this.failures.add(fn);
  }

  /** An alert went to the broker without its commit. */
  countUnstored(): void {
    this.unstoredTotal += 1;
    this.unstoredNow += 1;
  }

  /** A write committed. */
  wrote(): void {
    if (this.state === 'ok') return;
    const seconds = Math.round((this.clock.monotonic() - this.sinceMono) / 100) / 10;
    const was = this.state;
    const unstored = this.unstoredNow;
    this.state = 'ok';
    this.lastError = undefined;
    this.unstoredNow = 0;
    this.opts.log.info({ stage: 'store', was, duration_s: seconds, unstored, free_mb: toMb(this.freeBytes()) },
      `store writable again after ${seconds} s ${was}; ${unstored} alerts went out unstored meanwhile`);
    this.changes.emit(this.snapshot());
  }

  /** A write failed with `err` (the SQLite or system error, not the wrapped one). */
  failed(err: unknown, what: string): void {
    const free = this.freeBytes();
    const kind = writeFailureKind(err, free);
    if (kind === undefined) return;
    this.lastError = errorMessage(err);
    if (kind !== this.state) this.turn(kind, err, what, free);
    this.failures.emit();
  }

  private turn(kind: 'full' | 'failing', err: unknown, what: string, free: number | undefined): void {
    if (this.state === 'ok') {
      this.sinceWall = this.clock.now();
      this.sinceMono = this.clock.monotonic();
      this.unstoredNow = 0;
    }
    this.state = kind;
    const sqlite = (err as { code?: unknown }).code;
    const fields = { stage: 'store', code: 'E_STORE', state: kind, sqlite, path: this.opts.path, free_bytes: free ?? null, free_mb: toMb(free) };
    const next = 'alerts still go to the broker (flagged stored: false) and statistics wait in memory; writing resumes by itself';
    if (kind === 'full') {
      this.opts.log.error(fields, `store full: could not ${what} in ${this.opts.path} (${this.lastError}); ${free ?? 'unknown'} bytes free on its filesystem; ${next}`);
    } else {
      this.opts.log.error(fields, `store failing: could not ${what} in ${this.opts.path} (${this.lastError}); ${next}`);
    }
    this.changes.emit(this.snapshot());
  }
}
