import { Counter, Gauge, type Registry } from 'prom-client';
import { STORE_STATES, type StoreHealthSnapshot } from './health.js';

export interface StoreMetricsSource {
  health(): StoreHealthSnapshot;
  /** Unstored alerts the publisher's memory queue had to drop (it was full). */
  unstoredDropped(): number;
}

const NAMES = ['linesight_store_state', 'linesight_store_free_bytes', 'linesight_alerts_unstored_total', 'linesight_alerts_unstored_dropped_total'];

/**
 * The store's metrics, read from its health when scraped (so they never drift
 * from the node status). Returns a function that unregisters them.
 *
 * @example
 * const registry = new Registry();
 * registerStoreMetrics(registry, { health: () => store.health(), unstoredDropped: () => publisher.unstored.dropped });
 */
export function registerStoreMetrics(registry: Registry, source: StoreMetricsSource): () => void {
  const registers = [registry];
  new Gauge({
    name: 'linesight_store_state', help: '1 for the store’s current state (ok, full, failing), 0 for the others', labelNames: ['state'], registers,
    collect(this: Gauge) {
      const { state } = source.health();
      for (const s of STORE_STATES) this.set({ state: s }, s === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'linesight_store_free_bytes', help: 'Free bytes of the database’s filesystem (absent when unknown)', registers,
    collect(this: Gauge) {
      this.reset();
      const free = source.health().freeBytes;
      if (free !== undefined) this.set(free);
    },
  });
  new Counter({
    name: 'linesight_alerts_unstored_total', help: 'Alerts published although their SQLite commit failed (full or failing disk)', registers,
    collect(this: Counter) {
      this.reset();
      this.inc(source.health().unstored);
    },
  });
  new Counter({
    name: 'linesight_alerts_unstored_dropped_total', help: 'Unstored alerts dropped because the in-memory queue for them was full', registers,
    collect(this: Counter) {
      this.reset();
      this.inc(source.unstoredDropped());
    },
  });
  return () => {
    for (const name of NAMES) registry.removeSingleMetric(name);
  };
}
