import { productionTimeline } from '../context/report.js';
import { compareFromStore } from '../models/compare-store.js';
import { ModelRegistry } from '../models/registry.js';
import type { Db } from '../store/db.js';
import type { BatchExtras } from './batch.js';

/**
 * What the line's nightly batch carries beside its rows: the shadow runs'
 * comparisons and the production timeline (contexts and recipes) of the
 * batch's period. The running line and `linesight sync --now` build the same
 * batch with it, read on the statistics connection `db` (models, shadow runs,
 * contexts and recipes all live in that database).
 */
export function lineBatchExtras(db: Db): (start: number, end: number) => BatchExtras {
  const registry = new ModelRegistry(db);
  return (start, end) => ({ model_comparisons: compareFromStore(registry, start, end), ...productionTimeline(db, start, end) });
}
