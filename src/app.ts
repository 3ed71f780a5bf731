import { readFileSync } from 'node:fs';
import type { CameraConfig, Config } from './config/schema.js';
import { errorMessage } from './errors.js';
import { Tracker, type TrackView } from './events/index.js';
import { Camera } from './ingest/camera.js';
import { viewEvery, type LetterboxPlan } from './ingest/ffmpeg-args.js';
import { createDetector, framesPerCall, type Detector } from './infer/detector.js';
import { ensureProviderDirs, providerOptions } from './infer/providers.js';
import { InferenceScheduler } from './infer/scheduler.js';
import type { Logger } from './log.js';
import { startOverlay, type Overlay } from './overlay/index.js';
import type { AlertView, OverlaySource, Unsubscribe } from './overlay/source.js';
import { startPublisher, type Publisher } from './publish/index.js';
import { openStore, type Store } from './store/index.js';
import { openAggregateStore, type AggregateStore } from './store/aggregate-store.js';
import { MinuteAggregator } from './store/aggregator.js';
import { LETTERBOX_PAD } from './preprocess/letterbox.js';
import { createSync, syncStatusPayload, type Sync } from './sync/index.js';
import { hasPicture, type CameraSnapshot, type Frame, type InspectedFrame } from './types.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const RETENTION_EVERY_MS = 60 * 60 * 1000;

/**
 * The running line: the only place that knows every stage. Cameras feed the
 * scheduler, the scheduler the detector, inspected frames the per-camera
 * trackers, confirmed defects the SQLite outbox, the outbox the MQTT publisher.
 */
export interface Line {
  readonly config: Config;
  readonly detector: Detector;
  readonly store: Store;
  readonly publisher: Publisher;
  /** Per-minute statistics and the nightly upload. */
  readonly stats: AggregateStore;
  readonly sync: Sync;
  /** The operator page, unless disabled in LineOptions. */
  readonly overlay: Overlay | undefined;
  cameras(): CameraSnapshot[];
  onInspected(listener: (result: InspectedFrame, tracks: TrackView[]) => void): Unsubscribe;
  onAlert(listener: (alert: AlertView) => void): Unsubscribe;
  /** What the operator overlay reads. */
  overlaySource(): OverlaySource;
  /**
   * Applies a new camera list without a restart: added cameras start, removed ones
   * stop, changed ones restart; the others never notice. Returns what changed.
   */
  reconfigureCameras(cameras: readonly CameraConfig[]): Promise<{ added: string[]; removed: string[]; restarted: string[] }>;
  /** Stops cameras, finishes the batch in flight, closes MQTT and SQLite (unsent alerts stay on disk). */
  stop(): Promise<void>;
}

/** True when only the camera list differs, so a reload needs no restart of the line. */
export function onlyCamerasDiffer(a: Config, b: Config): boolean {
  const { cameras: _a, ...restA } = a;
  const { cameras: _b, ...restB } = b;
  return JSON.stringify(restA) === JSON.stringify(restB);
}

export interface LineOptions {
  /** Publisher timings for tests (shorter backoff). */
  publisherTuning?: Parameters<typeof startPublisher>[0]['tuning'];
  /** Start the operator page (default true). */
  overlay?: boolean;
  /** Experiment (`linesight bench --in-flight`): batches in the detector at once, instead of the one the letterbox mode implies. */
  inFlight?: number;
}

/**
 * Batches in the detector at once: one per session when several run side by
 * side. With one session, two when sharp letterboxes (the next batch is
 * letterboxed while one is in the session); one when ffmpeg has letterboxed,
 * since there is nothing to overlap and a second batch would only be fixed
 * early, so frames arriving during the call could not join it (BENCHMARKS.md).
 */
export function batchesInFlight(letterbox: 'ffmpeg' | 'sharp', sessions: number): number {
  if (sessions > 1) return sessions;
  return letterbox === 'ffmpeg' ? 1 : 2;
}

function listeners<A extends unknown[]>() {
  const set = new Set<(...args: A) => void>();
  return {
    add(fn: (...args: A) => void): Unsubscribe {
      set.add(fn);
      return () => set.delete(fn);
    },
    emit(...args: A): void {
      for (const fn of set) fn(...args);
    },
  };
}

/**
 * The frame to cut a thumbnail from: the one captured at `ts` if it has its
 * full-size picture, else the one with a picture captured nearest to it. The
 * box may then be off by what the part moved in between (at most half the
 * view interval; the thumbnail's margin absorbs slow belts).
 */
export function pictureNear(frames: readonly Frame[], ts: number): Frame | undefined {
  const own = frames.find((f) => f.captureTs === ts);
  if (own && (hasPicture(own) || own.pictureDue)) return own; // its picture may still be on the pipe
  let best: Frame | undefined;
  for (const f of frames) {
    if (!hasPicture(f)) continue;
    if (!best || Math.abs(f.captureTs - ts) < Math.abs(best.captureTs - ts)) best = f;
  }
  return best;
}

function trackerFor(cam: CameraConfig, config: Config): Tracker {
  return new Tracker(cam.id, {
    confirmHits: config.events.confirm_hits,
    confirmWindow: config.events.confirm_window,
    maxMissed: config.events.max_missed,
    matchIou: config.events.match_iou,
    maxCentreShift: config.events.max_shift,
    firstMatchShift: config.events.first_shift,
    roi: cam.roi,
    exclude: cam.exclude,
    classConfidence: config.model.class_confidence,
    ignoreClasses: config.model.ignore_classes,
  });
}

export async function startLine(config: Config, log: Logger, options: LineOptions = {}): Promise<Line> {
  const ep = providerOptions(config.model);
  ensureProviderDirs(ep); // TensorRT creates only the last folder of its engine cache path
  const detector = await createDetector({
    providerOptions: ep,
    path: config.model.path,
    providers: config.model.providers,
    confidence: config.model.confidence,
    iou: config.model.iou,
    classes: config.model.classes,
    classConfidence: config.model.class_confidence,
    ignoreClasses: config.model.ignore_classes,
    threads: config.model.threads,
    thread: config.model.thread,
    sessions: config.model.sessions,
    input: config.model.input,
  }, log);
  const model = { name: detector.info.name, version: detector.info.version };

  let store: Store;
  try {
    store = openStore(config.store.path, { outboxMaxRows: config.store.outbox_max_rows, outboxFullPolicy: config.store.outbox_full_policy }, log);
  } catch (err) {
    await detector.close();
    throw err;
  }

  let stats: AggregateStore;
  try {
    stats = openAggregateStore(config.store.path, log);
  } catch (err) {
    store.close();
    await detector.close();
    throw err;
  }
  const aggregator = new MinuteAggregator({ sink: stats, log });
  const sync = createSync({ config: config.sync, site: config.site, line: config.line, store: stats, log, retentionDays: config.store.retention_days, version: VERSION });

  const enabled = config.cameras.filter((c) => c.enabled);
  const cameras = new Map<string, Camera>();
  const trackers = new Map<string, Tracker>();

  let publisher: Publisher;
  try {
    publisher = await startPublisher({
      mqtt: config.mqtt,
      site: config.site,
      line: config.line,
      model,
      version: VERSION,
      cameras: enabled.map((c) => c.id),
      outbox: store,
      log,
      statusSource: () => ({ snapshots: [...cameras.values()].map((c) => c.snapshot()), provider: detector.info.provider }),
      tuning: options.publisherTuning,
      nodeExtra: () => ({ sync: syncStatusPayload(sync.status()) }),
      onDelivered: (camera, latencyMs) => aggregator.onPublished(camera, latencyMs),
    });
  } catch (err) {
    stats.close();
    store.close();
    await detector.close();
    throw err;
  }

  const frames = listeners<[Frame]>();
  const inspected = listeners<[InspectedFrame, TrackView[]]>();
  const alerts = listeners<[AlertView, Frame | undefined]>();
  // The last few inspected frames per camera (references, no copies): an alert's
  // thumbnail is cut from the frame its box comes from, which may be a few frames back
  // (or, when ffmpeg letterboxes and only every k-th frame has its full-size picture,
  // from the nearest one that has it).
  const recentFrames = new Map<string, Frame[]>();
  const keepFrames = Math.min(config.events.confirm_window + 1, 8);
  const eventLog = log.child({ stage: 'events' });

  const scheduler = new InferenceScheduler(detector, {
    batchMax: framesPerCall(detector.info, config.model.batch_max),
    batchWaitMs: config.model.batch_wait_ms,
    inFlight: options.inFlight ?? batchesInFlight(config.ingest.letterbox, detector.info.sessions),
    sessions: detector.info.sessions,
  }, log);

  scheduler.on('inspected', (result, frame) => {
    const tracker = trackers.get(result.frame.camera);
    if (!tracker) return; // camera removed while its frame was in flight
    const ring = recentFrames.get(frame.camera) ?? [];
    ring.push(frame);
    if (ring.length > keepFrames) ring.shift();
    recentFrames.set(frame.camera, ring);
    const { events, tracks } = tracker.update(result);
    for (const event of events) {
      try {
        const { seq, outcome } = store.recordEvent(event, model);
        eventLog.info({
          camera: event.camera, seq, class: event.className, confidence: Number(event.confidence.toFixed(3)),
          box: event.box, track: event.trackId, id: event.id, outbox: outcome,
        }, `defect ${event.className} on ${event.camera}`);
        alerts.emit({ ...event, seq }, pictureNear(ring, event.frame.ts));
      } catch (err) {
        // The store refusing a write is the one failure that can lose an alert: shout.
        eventLog.error({ camera: event.camera, code: 'E_STORE', err: errorMessage(err), event }, 'could not store an alert');
      }
    }
    if (events.length > 0) publisher.kick();
    aggregator.onInspected(result, events);
    inspected.emit(result, tracks);
  });
  scheduler.start();

  // ffmpeg letterboxes to the model input; the full-size picture comes as often as the preview needs it.
  const letterboxPlan = (camCfg: CameraConfig): LetterboxPlan | undefined => config.ingest.letterbox !== 'ffmpeg' ? undefined : {
    width: detector.info.inputWidth,
    height: detector.info.inputHeight,
    viewEvery: viewEvery(camCfg.fps, config.overlay.preview_fps),
    pad: LETTERBOX_PAD,
  };
  const cameraConfigs = new Map<string, CameraConfig>();
  const startCamera = (camCfg: CameraConfig) => {
    cameraConfigs.set(camCfg.id, camCfg);
    if (!camCfg.enabled) {
      log.info({ stage: 'ingest', camera: camCfg.id }, 'camera disabled in the config; not started');
      return;
    }
    // Files replayed as fast as possible wait for the model instead of decoding frames it would drop.
    const camera = new Camera(camCfg, config.ingest, log, { flowControl: true, letterbox: letterboxPlan(camCfg) });
    trackers.set(camCfg.id, trackerFor(camCfg, config));
    camera.on('frame', (frame) => {
      scheduler.offer(frame, camera);
      frames.emit(frame);
    });
    // ffmpeg letterboxing: the full-size picture of every k-th frame may come just after the frame (the video shows it then).
    camera.on('picture', (frame) => frames.emit(frame));
    camera.on('state', () => publisher.publishCameraStatus(camera.snapshot(), { provider: detector.info.provider }));
    cameras.set(camCfg.id, camera);
    camera.start();
  };
  const stopCamera = async (id: string) => {
    const camera = cameras.get(id);
    cameraConfigs.delete(id);
    cameras.delete(id);
    trackers.delete(id);
    scheduler.forget(id);
    recentFrames.delete(id);
    await camera?.stop();
  };
  for (const camCfg of config.cameras) startCamera(camCfg);

  const purge = () => {
    store.purgeOlderThan(config.store.retention_days).then((n) => {
      if (n > 0) log.info({ stage: 'store', removed: n, days: config.store.retention_days }, 'old alerts removed (retention)');
    }, (err: unknown) => log.warn({ stage: 'store', code: 'E_STORE', err: errorMessage(err) }, 'retention cleanup failed; will retry in an hour'));
    // Statistics are removed only once uploaded and older than retention (guarantee 4).
    Promise.resolve().then(() => stats.purgeAggregates(config.store.retention_days)).catch((err: unknown) =>
      log.warn({ stage: 'store', code: 'E_STORE', err: errorMessage(err) }, 'statistics retention cleanup failed; will retry in an hour'));
  };
  // Cumulative camera counters become per-minute deltas; every few seconds is enough.
  const snapshotTimer = setInterval(() => aggregator.onSnapshots(line.cameras(), detector.info.provider), 5000);
  snapshotTimer.unref();
  sync.startSchedule();
  const retentionTimer = setInterval(purge, RETENTION_EVERY_MS);
  retentionTimer.unref();
  purge();

  let stopped: Promise<void> | null = null;
  let overlay: Overlay | undefined;
  const line: Line = {
    config,
    detector,
    store,
    publisher,
    stats,
    sync,
    get overlay() {
      return overlay;
    },
    cameras: () => [...cameras.values()].map((c) => c.snapshot()),
    onInspected: (fn) => inspected.add(fn),
    onAlert: (fn) => alerts.add(fn),
    async reconfigureCameras(next) {
      const wanted = new Map(next.map((c) => [c.id, c]));
      const removed = [...cameraConfigs.keys()].filter((id) => !wanted.has(id));
      const restarted = [...cameraConfigs.entries()]
        .filter(([id, cfg]) => wanted.has(id) && JSON.stringify(cfg) !== JSON.stringify(wanted.get(id)))
        .map(([id]) => id);
      const added = next.filter((c) => !cameraConfigs.has(c.id)).map((c) => c.id);
      await Promise.all([...removed, ...restarted].map(stopCamera));
      for (const id of [...restarted, ...added]) startCamera(wanted.get(id)!);
      log.info({ stage: 'app', added, removed, restarted }, 'cameras reconfigured');
      return { added, removed, restarted };
    },
    overlaySource: () => ({
      site: config.site,
      line: config.line,
      model: () => detector.info,
      cameras: () => line.cameras(),
      onFrame: (fn) => frames.add(fn),
      onInspected: (fn) => inspected.add(fn),
      onAlert: (fn) => alerts.add(fn),
      recentAlerts: (limit) => store.recentAlerts({ limit }),
      health: () => ({
        alive: stopped === null,
        mqttConnected: publisher.connected,
        outboxDepth: store.depth(),
        provider: detector.info.provider,
      }),
    }),
    stop() {
      stopped ??= (async () => {
        clearInterval(retentionTimer);
        await overlay?.close();
        await Promise.all([...cameras.values()].map((c) => c.stop()));
        await scheduler.stop(); // the batch in flight finishes and its events are stored
        await publisher.stop();
        clearInterval(snapshotTimer);
        aggregator.onSnapshots(line.cameras(), detector.info.provider);
        await sync.stop();
        try {
          aggregator.close(); // flushes the current minute
        } catch (err) {
          log.error({ stage: 'store', code: 'E_STORE', err: errorMessage(err) }, 'could not write the last minute of statistics');
        }
        stats.close();
        store.close();
        await detector.close();
      })();
      return stopped;
    },
  };
  if (options.overlay ?? true) {
    try {
      overlay = await startOverlay(config.overlay, line.overlaySource(), log);
    } catch (err) {
      await line.stop();
      throw err;
    }
  }
  return line;
}
