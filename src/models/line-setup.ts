import type { Clock } from '../clock.js';
import type { CameraConfig, Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { DetectionRules } from '../events/rules.js';
import type { ModelSlot } from '../infer/model-slot.js';
import { framesPerCall } from '../infer/detector.js';
import type { Logger } from '../log.js';
import type { ModelsApi } from '../overlay/source.js';
import { captureBand } from '../capture/config.js';
import { modelsApi, targetOf } from './api.js';
import { lineModels, type LineModels } from './line-models.js';
import { detectorOptions, loadChecked } from './load.js';
import { hashFile, openRegistry, type ModelRegistry } from './registry.js';
import { ShadowControl } from './shadow-control.js';

export interface StartModelsOptions {
  config: Config;
  slot: ModelSlot;
  /** The file the line started with (model.path, or the model last promoted on this box). */
  startPath: string;
  /** The cameras running now (the shadow run's trackers). */
  cameras(): Iterable<CameraConfig>;
  /** Trackers start again (a swap to a model with other class names). */
  classesChanged(): void;
  /** The rules the active model's frames are cut at now (recipes): a shadow run is cut the same. */
  rules?(): DetectionRules | undefined;
  status?(text: string | undefined): void;
  log: Logger;
  clock: Clock;
}

export type LineModelsRunning = LineModels & { registry: ModelRegistry; shadow: ShadowControl; api: ModelsApi };

/**
 * The running line's models on its registry, opened once the store has
 * migrated the database: the swaps, the shadow run (model.candidate starts
 * one; a failure to load it is logged and the line runs without), the API.
 */
export async function startModels(o: StartModelsOptions): Promise<LineModelsRunning> {
  const { registry, close } = openRegistry(o.config.store.path, o.log);
  const m = o.config.model;
  try {
    const hash = await hashFile(o.startPath);
    const batch = framesPerCall(o.slot.current().info, m.batch_max);
    const shadowRef: { control?: ShadowControl } = {};
    const models = lineModels({
      slot: o.slot, registry, initial: { path: o.startPath, hash }, configPath: m.path,
      open: (path) => loadChecked(detectorOptions(m, path, { captureBand: captureBand(o.config) }), batch, o.log), // near-threshold capture survives a swap
      classesChanged: o.classesChanged, status: o.status, log: o.log, clock: o.clock,
      swapped: (running) => {
        if (shadowRef.control?.running?.model.hash === running.hash) void shadowRef.control.stop('promote').catch(() => undefined);
      },
    });
    const control = new ShadowControl({
      config: o.config, registry, log: o.log, clock: o.clock, cameras: o.cameras, rules: o.rules,
      open: (path) => loadChecked(detectorOptions(m, path, { sessions: 1, threads: m.shadow.threads }), 1, o.log),
      activeHash: () => models.active().hash, activeInfo: () => o.slot.current().info,
    });
    shadowRef.control = control;
    if (m.candidate !== undefined) {
      control.start(targetOf(m.candidate), 'config').catch((err: unknown) => {
        o.log.error({ stage: 'infer', err: errorMessage(err), candidate: m.candidate }, 'model.candidate did not start; the line runs without a shadow run');
      });
    }
    return {
      ...models, registry, shadow: control, api: modelsApi(models, registry, control, o.clock),
      close: async () => {
        await models.close();
        await control.close();
        close();
      },
    };
  } catch (err) {
    close();
    throw err;
  }
}
