import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Publisher, PublisherTuning } from '../publish/index.js';
import type { Store } from '../store/index.js';
import type { CameraSnapshot, ModelInfo } from '../types.js';
import { startSparkplug, type SparkplugNode } from './index.js';

export interface LineSparkplugParts {
  config: Config;
  store: Store;
  publisher: Publisher;
  /** The cameras as the status topics show them (health included). */
  snapshots: () => CameraSnapshot[];
  /** The model running now (it may be switched while the line runs). */
  model: () => Pick<ModelInfo, 'name' | 'version' | 'provider' | 'classNames'>;
  /** The active recipe's name, when the line has recipes. */
  recipe?: () => string | undefined;
  version: string;
  log: Logger;
  clock?: Clock;
  tuning?: PublisherTuning;
}

/** The line's Sparkplug edge node when `mqtt.sparkplug.enabled`, else undefined. */
export function lineSparkplug(p: LineSparkplugParts): SparkplugNode | undefined {
  const c = p.config.mqtt.sparkplug;
  if (!c?.enabled) return undefined;
  return startSparkplug({
    config: c, mqtt: p.config.mqtt, site: p.config.site, line: p.config.line,
    brokerUrl: p.publisher.url, embedded: p.publisher.embedded,
    ledger: p.store.sparkplugLedger(), log: p.log, clock: p.clock, tuning: p.tuning,
    sources: {
      cameras: p.snapshots,
      classNames: () => p.model().classNames,
      node: () => {
        const m = p.model();
        return {
          version: p.version,
          model: { name: m.name, version: m.version, provider: m.provider },
          recipe: p.recipe?.(),
          outboxDepth: p.store.depth(),
          storeState: p.store.health().state,
        };
      },
    },
  });
}
