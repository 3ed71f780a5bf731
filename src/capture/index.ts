import { systemClock, type Clock } from '../clock.js';
import type { CameraConfig, Config } from '../config/schema.js';
import type { EventsStage } from '../events/stage.js';
import type { Logger } from '../log.js';
import { MIB } from '../store/space.js';
import type { StoreHealthSnapshot } from '../store/health.js';
import type { PicturesTable } from '../store/pictures.js';
import type { Picture } from '../types.js';
import type { VerdictBody } from '../verdicts/body.js';
import { CaptureStage } from './capture.js';
import { picturesDir } from './config.js';
import { PictureKeeper } from './keeper.js';
import { PictureWriter } from './writer.js';

export { CaptureStage } from './capture.js';
export { captureBand, capturePoliciesFor, picturesDir } from './config.js';
export { registerCaptureMetrics } from './metrics.js';

/** How often pictures past retention, and those whose alert or verdict is gone, are removed. */
const SWEEP_EVERY_MS = 60 * 60 * 1000;
/** While the disk is low, how often the pictures of alerts pruned for space are looked for. */
const LOW_SWEEP_EVERY_MS = 60 * 1000;

export interface CaptureOptions {
  config: Config;
  table: PicturesTable;
  /** The store's health: pictures are not written while the disk is full or below `store.min_free_mb`. */
  storeHealth: () => StoreHealthSnapshot;
  model?: () => { name: string; version: string };
  clock?: Clock;
  log: Logger;
  random?: () => number;
}

/** What the capture listens to on a running line (the line's own objects, narrowed). */
export interface CaptureFeeds {
  events: Pick<EventsStage, 'on' | 'currentRules'>;
  verdicts: { onVerdict(fn: (verdict: VerdictBody) => void): unknown };
  pictures: { add(fn: (picture: Picture) => void): unknown };
  cameras: { on(event: 'joined', fn: (source: unknown, cfg: CameraConfig) => void): unknown; on(event: 'left', fn: (id: string) => void): unknown };
}

/** The running capture: feed `stage` (or `attach` it to a line); `close()` stops the sweep and lets the picture being written finish. */
export interface Capture {
  readonly stage: CaptureStage;
  readonly writer: PictureWriter;
  readonly keeper: PictureKeeper;
  /** Listens to the line: cameras joining and leaving, their pictures, inspected frames, alerts, verdicts. Before the cameras start. */
  attach(feeds: CaptureFeeds): void;
  close(): Promise<void>;
}

/**
 * Starts the pictures kept for training: the stage that chooses them, the
 * writer that encodes them off the inference path, the keeper of the quota and
 * retention (swept now and hourly). Its metrics: `registerCaptureMetrics`.
 *
 * @example
 * const capture = startCapture({ config, table: store.pictures(), storeHealth: () => store.health(), log });
 * events.on('alert', (alert, picture) => capture.stage.alert(alert, picture));
 */
export function startCapture(o: CaptureOptions): Capture {
  const clock = o.clock ?? systemClock;
  const log = o.log.child({ stage: 'capture' });
  const dir = picturesDir(o.config);
  const keeper = new PictureKeeper({ table: o.table, dir, maxBytes: o.config.capture.max_mb * MIB, retentionDays: o.config.store.retention_days, clock, log });
  const minFree = o.config.store.min_free_mb * MIB;
  let lastLowSweep = -Infinity;
  const writer = new PictureWriter({
    dir, quality: o.config.capture.quality, queue: o.config.capture.queue, clock, log,
    record: (p) => o.table.record(p),
    kept: (bytes) => keeper.kept(bytes),
    diskLow: () => {
      const h = o.storeHealth();
      const low = h.state !== 'ok' || (h.freeBytes !== undefined && h.freeBytes < minFree);
      // The disk watch prunes sent alerts when space runs low: their pictures, the larger part, go now, not within the hour.
      if (low && clock.monotonic() - lastLowSweep >= LOW_SWEEP_EVERY_MS) {
        lastLowSweep = clock.monotonic();
        void keeper.run();
      }
      return low;
    },
  });
  const stage = new CaptureStage({ config: o.config, writer, clock, log, model: o.model, random: o.random });
  void keeper.run();
  const timer = clock.setInterval(() => void keeper.run(), SWEEP_EVERY_MS);
  return {
    stage, writer, keeper,
    attach({ events, verdicts, pictures, cameras }) {
      cameras.on('joined', (_source, cfg) => stage.addCamera(cfg));
      cameras.on('left', (id) => stage.removeCamera(id));
      pictures.add((picture) => stage.picture(picture));
      events.on('inspected', (result, tracks) => stage.inspected(result, tracks));
      const configured = stage.threshold;
      stage.threshold = (className) => events.currentRules()?.minConfidence(className) ?? configured(className);
      events.on('alert', (alert, picture) => stage.alert(alert, picture));
      verdicts.onVerdict((v) => stage.verdict(v));
    },
    async close() {
      clock.clearInterval(timer);
      stage.close();
      await writer.close();
      await keeper.settled();
    },
  };
}
