import type { Config } from './config/schema.js';
import { Camera } from './ingest/camera.js';
import { createDetector, type Detector } from './infer/detector.js';
import { InferenceScheduler } from './infer/scheduler.js';
import type { Logger } from './log.js';
import type { CameraSnapshot, InspectedFrame } from './types.js';

/**
 * The running line: the only place that knows every stage. Cameras feed the
 * scheduler, the scheduler feeds the detector, inspected frames go to the sinks.
 */
export interface Line {
  readonly config: Config;
  readonly detector: Detector;
  cameras(): CameraSnapshot[];
  onInspected(listener: (result: InspectedFrame) => void): void;
  stop(): Promise<void>;
}

export async function startLine(config: Config, log: Logger): Promise<Line> {
  const detector = await createDetector({
    path: config.model.path,
    providers: config.model.providers,
    confidence: config.model.confidence,
    iou: config.model.iou,
    classes: config.model.classes,
    classConfidence: config.model.class_confidence,
    ignoreClasses: config.model.ignore_classes,
    threads: config.model.threads,
    input: config.model.input,
  }, log);

  const scheduler = new InferenceScheduler(detector, {
    batchMax: detector.info.dynamicBatch ? config.model.batch_max : 1,
    batchWaitMs: config.model.batch_wait_ms,
  }, log);
  scheduler.start();

  const cameras = new Map<string, Camera>();
  for (const camCfg of config.cameras) {
    if (!camCfg.enabled) {
      log.info({ stage: 'ingest', camera: camCfg.id }, 'camera disabled in the config; not started');
      continue;
    }
    const camera = new Camera(camCfg, config.ingest, log);
    camera.on('frame', (frame) => scheduler.offer(frame, camera));
    cameras.set(camCfg.id, camera);
    camera.start();
  }

  scheduler.on('inspected', (r) => {
    if (r.detections.length > 0) {
      log.debug({ stage: 'infer', camera: r.frame.camera, seq: r.frame.seq, detections: r.detections }, 'detections');
    }
  });

  let stopped: Promise<void> | null = null;
  return {
    config,
    detector,
    cameras: () => [...cameras.values()].map((c) => c.snapshot()),
    onInspected: (listener) => scheduler.on('inspected', listener),
    stop() {
      stopped ??= (async () => {
        await Promise.all([...cameras.values()].map((c) => c.stop()));
        await scheduler.stop();
        await detector.close();
      })();
      return stopped;
    },
  };
}
