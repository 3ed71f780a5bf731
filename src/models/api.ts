import type { Clock } from '../clock.js';
import type { ModelsApi } from '../overlay/source.js';
import { compareFromStore } from './compare-store.js';
import type { LineModels, ModelTarget } from './line-models.js';
import type { ModelRegistry } from './registry.js';
import type { ShadowControl } from './shadow-control.js';

/** How far back `compare` looks by default. */
export const COMPARE_DEFAULT_MS = 24 * 3600_000;

/** A model named on the command line or in a request: a file (a path, or a name ending in .onnx) or a version or hash. */
export function targetOf(model: string): ModelTarget {
  return /\.onnx$/i.test(model) || model.includes('/') ? { path: model } : model;
}

/** The line's models as the overlay's API (and so the CLI) sees them: JSON-ready. */
export function modelsApi(models: LineModels, registry: ModelRegistry, shadow: ShadowControl, clock: Clock): ModelsApi {
  return {
    list: () => {
      const active = models.active();
      const run = shadow.running;
      const previous = registry.role('previous');
      return {
        active,
        loading: models.loading() ?? null,
        candidate: run ? { ...run.model, share: run.share, cameras: run.stats() } : null,
        models: registry.list().map((m) => ({
          ...m,
          role: m.hash === active.hash ? 'active' : m.hash === run?.model.hash ? 'candidate' : m.hash === previous ? 'previous' : null,
        })),
        changes: registry.changes(10),
      };
    },
    compare: (since) => {
      const from = since ?? clock.now() - COMPARE_DEFAULT_MS;
      return { since: from, comparisons: compareFromStore(registry, from) };
    },
    activate: (model, requestedBy) => models.activate(targetOf(model), { requestedBy }),
    rollback: (requestedBy) => models.rollback({ requestedBy }),
    shadow: (model, requestedBy) => (model === null ? shadow.stop(requestedBy) : shadow.start(targetOf(model), requestedBy)),
  };
}
