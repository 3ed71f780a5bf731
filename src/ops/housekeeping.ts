import { Registry } from 'prom-client';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Publisher } from '../publish/index.js';
import type { AggregateStore } from '../store/aggregate-store.js';
import type { MinuteAggregator } from '../store/aggregator.js';
import { registerStoreMetrics, type Store } from '../store/index.js';
import type { Sync } from '../sync/index.js';
import type { CameraSnapshot } from '../types.js';
import type { Closers } from './closers.js';

/** How often sent alerts and health events, and uploaded statistics, past retention are removed. */
const RETENTION_EVERY_MS = 60 * 60 * 1000;
/** How often the cameras' cumulative counters become per-minute deltas; every few seconds is enough. */
const SNAPSHOT_EVERY_MS = 5000;

export interface Housekept {
  store: Store;
  stats: AggregateStore;
  sync: Sync;
  aggregator: MinuteAggregator;
  publisher: Publisher;
  snapshots: () => CameraSnapshot[];
  provider: () => string;
  clock?: Clock;
}

/**
 * The timers of a running line, each stopped through `closers`: camera
 * counters into per-minute statistics, the nightly upload, retention, and the
 * store's watch on its disk (pruning below `store.min_free_mb`; the node status
 * republished at each change of the store's health). Returns the registry with
 * the store's metrics, for the overlay's `/metrics`.
 */
export function startHousekeeping(config: Config, log: Logger, h: Housekept, closers: Closers): Registry {
  const clock = h.clock ?? systemClock;
  const days = config.store.retention_days;
  const purge = () => {
    h.store.purgeOlderThan(days).then((n) => {
      if (n > 0) log.info({ stage: 'store', removed: n, days }, 'old alerts removed (retention)');
    }, (err: unknown) => log.warn({ stage: 'store', code: 'E_STORE', err: errorMessage(err) }, 'retention cleanup failed; will retry in an hour'));
    // Health events go with the alerts: only sent ones, past the same retention.
    h.store.purgeHealthOlderThan(days).then((n) => {
      if (n > 0) log.info({ stage: 'store', removed: n, days }, 'old camera health events removed (retention)');
    }, (err: unknown) => log.warn({ stage: 'store', code: 'E_STORE', err: errorMessage(err) }, 'health event retention cleanup failed; will retry in an hour'));
    // Statistics are removed only once uploaded and older than retention.
    Promise.resolve().then(() => h.stats.purgeAggregates(days)).catch((err: unknown) =>
      log.warn({ stage: 'store', code: 'E_STORE', err: errorMessage(err) }, 'statistics retention cleanup failed; will retry in an hour'));
  };
  const snapshotTimer = clock.setInterval(() => h.aggregator.onSnapshots(h.snapshots(), h.provider()), SNAPSHOT_EVERY_MS);
  closers.add('statistics timer', () => clock.clearInterval(snapshotTimer));
  h.sync.startSchedule();
  const retentionTimer = clock.setInterval(purge, RETENTION_EVERY_MS);
  closers.add('retention timer', () => clock.clearInterval(retentionTimer));
  purge();

  h.store.watchDisk({ minFreeMb: config.store.min_free_mb, clock: h.clock }); // stopped by store.close()
  h.store.onHealthChange(() => h.publisher.publishNodeStatus());
  const registry = new Registry();
  registerStoreMetrics(registry, { health: () => h.store.health(), unstoredDropped: () => h.publisher.unstored.dropped });
  return registry;
}
