import { systemClock, type Clock, type Timer } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Unsubscribe } from '../listeners.js';
import type { Logger } from '../log.js';
import type { StoreHealth } from './health.js';
import type { CompactResult, PruneResult, SpacePruner } from './prune.js';
import { MIB, toMb } from './space.js';

export interface DiskWatchOptions {
  /** Free space (MB) the database's filesystem keeps (`store.min_free_mb`); 0 reports free space but never prunes. */
  minFreeMb: number;
  /** Between two regular checks, ms. Default 30 000. */
  everyMs?: number;
  /** Least time between two checks brought on by failed writes, ms (they fail once per alert on a full disk). Default 5000. */
  afterFailureGapMs?: number;
  clock?: Clock;
}

export interface DiskCheck {
  freeBytes: number | undefined;
  /** Free space was below `minFreeMb`. */
  below: boolean;
  pruned?: PruneResult;
  compacted?: CompactResult;
}

export interface DiskWatch {
  /** Checks now (one check at a time: a call during a check gets that check). */
  check(): Promise<DiskCheck>;
  stop(): void;
}

export interface DiskWatchDeps {
  path: string;
  health: StoreHealth;
  pruner: SpacePruner;
  /** A one-row write: while the store is not ok, it tells whether writes commit again. */
  probe(): void;
  log: Logger;
}

/**
 * Watches the free space of the database's filesystem, every `everyMs` and
 * soon after a write failed. Below `minFreeMb` it warns once, then makes room
 * (see SpacePruner) and gives it back to the filesystem; back above, it says
 * so once. While the store is full or failing it also probes with a small
 * write, so the store recovers even when nothing else writes.
 */
export function startDiskWatch(deps: DiskWatchDeps, options: DiskWatchOptions): DiskWatch {
  const watcher = new DiskWatcher(deps, options);
  watcher.start();
  return watcher;
}

class DiskWatcher implements DiskWatch {
  private readonly clock: Clock;
  private interval: Timer | undefined;
  private soonTimer: Timer | undefined;
  private lastCheck = Number.NEGATIVE_INFINITY;
  private running: Promise<DiskCheck> | undefined;
  private low = false;
  private unsubscribe: Unsubscribe | undefined;
  private stopped = false;

  constructor(private readonly deps: DiskWatchDeps, private readonly options: DiskWatchOptions) {
    this.clock = options.clock ?? systemClock;
  }

  start(): void {
    this.interval = this.clock.setInterval(() => void this.check(), this.options.everyMs ?? 30_000);
    this.unsubscribe = this.deps.health.onWriteFailed(() => this.soon());
  }

  stop(): void {
    this.stopped = true;
    if (this.interval !== undefined) this.clock.clearInterval(this.interval);
    if (this.soonTimer !== undefined) this.clock.clearTimeout(this.soonTimer);
    this.interval = this.soonTimer = undefined;
    this.unsubscribe?.();
  }

  check(): Promise<DiskCheck> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private soon(): void {
    if (this.soonTimer !== undefined || this.stopped) return;
    const wait = Math.max(0, this.lastCheck + (this.options.afterFailureGapMs ?? 5000) - this.clock.monotonic());
    this.soonTimer = this.clock.setTimeout(() => {
      this.soonTimer = undefined;
      void this.check();
    }, wait);
  }

  private async run(): Promise<DiskCheck> {
    this.lastCheck = this.clock.monotonic();
    const { health } = this.deps;
    if (health.current !== 'ok') this.attempt('probe the store with a write', () => this.deps.probe());
    const free = health.freeBytes();
    const threshold = this.options.minFreeMb * MIB;
    if (this.options.minFreeMb === 0 || free === undefined || this.stopped) return { freeBytes: free, below: false };
    if (free >= threshold) {
      if (this.low) this.deps.log.info({ stage: 'store', free_mb: toMb(free), min_free_mb: this.options.minFreeMb }, 'free space above store.min_free_mb again');
      this.low = false;
      return { freeBytes: free, below: false };
    }
    if (!this.low) {
      this.deps.log.warn({ stage: 'store', code: 'E_STORE', free_mb: toMb(free), min_free_mb: this.options.minFreeMb, path: this.deps.path },
        `free space of the database's filesystem is ${toMb(free)} MB, below store.min_free_mb (${this.options.minFreeMb} MB): pruning uploaded statistics and sent alerts, oldest first; unsent alerts are kept`);
      this.low = true;
    }
    return this.makeRoom(threshold - free);
  }

  /** Truncates the WAL (its bytes are the quickest to get back), prunes about `deficit` bytes, gives them back. */
  private async makeRoom(deficit: number): Promise<DiskCheck> {
    const { pruner, health, log } = this.deps;
    let compacted = this.attempt('checkpoint the WAL', () => pruner.compact());
    let pruned: PruneResult | undefined;
    try {
      pruned = await pruner.prune(deficit);
    } catch (err) {
      // The health has logged the store's state; this says only what did not happen.
      log.debug({ stage: 'store', err: errorMessage(err) }, 'could not prune for space');
    }
    if (pruned && pruned.minutes + pruned.alerts > 0) {
      compacted = this.attempt('give free pages back', () => pruner.compact()) ?? compacted;
      log.info({ stage: 'store', alerts: pruned.alerts, minutes: pruned.minutes, free_mb: toMb(health.freeBytes()), room_mb: toMb(pruned.room) },
        `pruned ${pruned.alerts} sent alerts and ${pruned.minutes} uploaded statistics records to keep store.min_free_mb`);
    }
    return { freeBytes: health.freeBytes(), below: true, pruned, compacted };
  }

  private attempt<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.deps.log.debug({ stage: 'store', err: errorMessage(err) }, `could not ${what}`);
      return undefined;
    }
  }
}
