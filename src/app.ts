import { Registry } from 'prom-client';
import type { Clock } from './clock.js';
import type { CameraConfig, Config } from './config/schema.js';
import { CoverageLedger } from './coverage.js';
import { errorMessage } from './errors.js';
import { EventsStage, type StoredEvent } from './events/stage.js';
import type { TrackView } from './events/index.js';
import { Camera, type FrameSource } from './ingest/camera.js';
import { CameraSet, type CameraChanges } from './ingest/camera-set.js';
import { pictureEvery } from './ingest/ffmpeg-args.js';
import { createDetector, framesPerCall, type Detector } from './infer/detector.js';
import { ensureProviderDirs, providerOptions } from './infer/providers.js';
import { InferenceScheduler } from './infer/scheduler.js';
import type { Logger } from './log.js';
import { Closers } from './ops/closers.js';
import { Listeners } from './listeners.js';
import { startOverlay, type Overlay } from './overlay/index.js';
import { lineView } from './overlay/line-view.js';
import type { OverlaySource, Unsubscribe } from './overlay/source.js';
import { LETTERBOX_PAD } from './preprocess/letterbox.js';
import { startPublisher, type Publisher } from './publish/index.js';
import type { AggregateStore } from './store/aggregate-store.js';
import { MinuteAggregator } from './store/aggregator.js';
import { openStore, registerStoreMetrics, type Store } from './store/index.js';
import { createSync, syncStatusPayload, type Sync } from './sync/index.js';
import type { CameraSnapshot, DefectEvent, InspectedFrame, Picture } from './types.js';
import { VERSION } from './version.js';

const RETENTION_EVERY_MS = 60 * 60 * 1000;
const SNAPSHOT_EVERY_MS = 5000;

/**
 * The running line. This file is wiring only: it opens the stages in order
 * (model, store, upload, publisher, events, scheduler, cameras, overlay),
 * connects them, and closes them in the reverse order. Data flows one way:
 * cameras → scheduler → detector → events stage → outbox → publisher.
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
  onAlert(listener: (alert: StoredEvent) => void): Unsubscribe;
  /** Frames received, inspected and dropped per camera. */
  readonly coverage: CoverageLedger;
  /** What the operator overlay reads. */
  overlaySource(): OverlaySource;
  /** Applies a new camera list without a restart: added cameras start, removed ones stop, changed ones restart. */
  reconfigureCameras(cameras: readonly CameraConfig[]): Promise<CameraChanges>;
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
  /** The clock of the statistics and the disk watch (tests move its wall clock). Default: the system clock. */
  clock?: Clock;
}

function openDetector(config: Config, log: Logger): Promise<Detector> {
  const ep = providerOptions(config.model);
  ensureProviderDirs(ep); // TensorRT creates only the last folder of its engine cache path
  const m = config.model;
  return createDetector({
    providerOptions: ep, path: m.path, providers: m.providers, confidence: m.confidence, iou: m.iou, classes: m.classes,
    classConfidence: m.class_confidence, ignoreClasses: m.ignore_classes, threads: m.threads, sessions: m.sessions, input: m.input,
  }, log);
}

/** Opens every stage of the line described by `config`; on any failure closes what was opened and rethrows. */
export async function startLine(config: Config, log: Logger, options: LineOptions = {}): Promise<Line> {
  const closers = new Closers(log);
  const detector = await closers.open('model', () => openDetector(config, log), (d) => d.close());
  const model = { name: detector.info.name, version: detector.info.version };
  const store = await closers.open('store', () =>
    openStore(config.store.path, { outboxMaxRows: config.store.outbox_max_rows, outboxFullPolicy: config.store.outbox_full_policy }, log), (s) => s.close());
  const stats = store.statistics();
  const aggregator = await closers.open('statistics', () => new MinuteAggregator({ sink: stats, log, clock: options.clock }), (a) => a.close());
  const sync = await closers.open('upload', () => createSync({
    config: config.sync, site: config.site, line: config.line, store: stats, log, retentionDays: config.store.retention_days, version: VERSION,
  }), (s) => s.stop());

  // The publisher's status and the statistics read the cameras, which start last.
  const cameraSet: { current?: CameraSet } = {};
  const snapshots = () => cameraSet.current?.snapshots() ?? [];
  const publisher = await closers.open('publisher', () => startPublisher({
    mqtt: config.mqtt, site: config.site, line: config.line, model, version: VERSION, outbox: store, log,
    cameras: config.cameras.filter((c) => c.enabled).map((c) => c.id),
    statusSource: () => ({ snapshots: snapshots(), provider: detector.info.provider }),
    tuning: options.publisherTuning,
    nodeExtra: () => ({ sync: syncStatusPayload(sync.status()) }),
    onDelivered: (camera, latencyMs) => aggregator.onPublished(camera, latencyMs),
    storeHealth: () => store.health(),
  }), (p) => p.stop());
  const registry = watchStore(config, store, publisher, options.clock);
  // The last camera counters of the run become its last minute of statistics.
  closers.add('statistics snapshot', () => aggregator.onSnapshots(snapshots(), detector.info.provider));

  const coverage = new CoverageLedger();
  const events = new EventsStage(config, {
    record: (event) => store.recordEvent(event, model),
    unstored: (event) => publishUnstored(store, publisher, event, model),
    stored: () => publisher.kick(),
    counted: (result, confirmed) => aggregator.onInspected(result, confirmed),
  }, log);
  closers.add('events', () => events.close()); // alerts waiting for their picture go out without it
  const scheduler = new InferenceScheduler(detector, {
    batchMax: framesPerCall(detector.info, config.model.batch_max),
    batchWaitMs: config.model.batch_wait_ms,
    sessions: detector.info.sessions,
  }, coverage, log);
  scheduler.on('inspected', (result) => events.inspect(result));
  scheduler.start();
  closers.add('scheduler', () => scheduler.stop()); // the batch in flight finishes and its events are stored

  const pictures = new Listeners<[Picture]>();
  const set = wireCameras(config, log, { detector, scheduler, events, publisher, pictures, coverage });
  cameraSet.current = set;
  scheduler.on('taken', (camera) => set.grant(camera));
  for (const cam of config.cameras) set.start(cam);
  closers.add('cameras', () => set.stopAll());
  startHousekeeping(config, log, { store, stats, sync, aggregator, snapshots, provider: () => detector.info.provider }, closers);

  let stopped: Promise<void> | null = null;
  const inspected = new Listeners<[InspectedFrame, TrackView[]]>();
  const alerts = new Listeners<[StoredEvent, Picture | undefined]>();
  events.on('inspected', (result, tracks) => inspected.emit(result, tracks));
  events.on('alert', (alert, picture) => alerts.emit(alert, picture));
  const view = lineView({
    site: config.site, line: config.line, model: () => detector.info, cameras: snapshots,
    onPicture: (fn) => pictures.add(fn), onInspected: (fn) => inspected.add(fn), onAlert: (fn) => alerts.add(fn),
    recentAlerts: (limit) => store.recentAlerts({ limit }),
    running: () => stopped === null, mqttConnected: () => publisher.connected, outboxDepth: () => store.depth(),
  });
  const overlay = options.overlay === false ? undefined
    : await closers.open('overlay', () => startOverlay(config.overlay, view, log, { metricsRegistry: registry }), (o) => o.close());

  return {
    config, detector, store, publisher, stats, sync, overlay, coverage,
    cameras: snapshots,
    onInspected: (fn) => inspected.add(fn),
    onAlert: (fn) => alerts.add(fn),
    overlaySource: () => view,
    reconfigureCameras: (next) => set.reconfigure(next),
    stop: () => (stopped ??= closers.closeAll()),
  };
}

/**
 * The store's side of a full disk: the free-space watch (pruning below
 * store.min_free_mb), the node status republished on each change of the
 * store's health, and its metrics on the registry the overlay serves.
 */
function watchStore(config: Config, store: Store, publisher: Publisher, clock: Clock | undefined): Registry {
  store.watchDisk({ minFreeMb: config.store.min_free_mb, clock }); // stopped by store.close()
  store.onHealthChange(() => publisher.publishNodeStatus());
  const registry = new Registry();
  registerStoreMetrics(registry, { health: () => store.health(), unstoredDropped: () => publisher.unstored.dropped });
  return registry;
}

/** An alert the store could not commit still reaches the broker, with a seq continued in memory. */
function publishUnstored(store: Store, publisher: Publisher, event: DefectEvent, model: { name: string; version: string }): { seq: number } {
  const seq = store.allocateUnstored(event.camera);
  publisher.publishUnstored({ event, seq, model });
  return { seq };
}

interface CameraWiring {
  detector: Detector;
  scheduler: InferenceScheduler;
  events: EventsStage;
  publisher: Publisher;
  pictures: Listeners<[Picture]>;
  coverage: CoverageLedger;
}

/** Cameras feed the scheduler (their newest frame), and the events stage and the overlay (their pictures). */
function wireCameras(config: Config, log: Logger, w: CameraWiring): CameraSet {
  const { detector, scheduler, events, publisher, pictures, coverage } = w;
  return new CameraSet({
    create: (cfg) => new Camera(cfg, config.ingest, log, {
      coverage,
      // Files replayed as fast as possible wait for the model (its credits) instead of decoding frames it would drop.
      flowControl: true,
      // ffmpeg letterboxes to the model input; the full-size picture comes as often as the preview needs it.
      letterbox: { width: detector.info.inputWidth, height: detector.info.inputHeight, pictureEvery: pictureEvery(cfg.fps, config.overlay.preview_fps), pad: LETTERBOX_PAD },
    }),
    joined: (camera: FrameSource, cfg) => {
      events.addCamera(cfg);
      camera.on('frame', (frame) => scheduler.offer(frame));
      camera.on('picture', (picture) => {
        events.picture(picture);
        pictures.emit(picture);
      });
      camera.on('state', () => publisher.publishCameraStatus(camera.snapshot(), { provider: detector.info.provider }));
    },
    left: (id) => {
      scheduler.forget(id);
      events.removeCamera(id);
    },
  }, log);
}

interface Housekept {
  store: Store;
  stats: AggregateStore;
  sync: Sync;
  aggregator: MinuteAggregator;
  snapshots: () => CameraSnapshot[];
  provider: () => string;
}

/** Timers of a running line: camera counters into per-minute statistics, the nightly upload, retention. */
function startHousekeeping(config: Config, log: Logger, h: Housekept, closers: Closers): void {
  const days = config.store.retention_days;
  const purge = () => {
    h.store.purgeOlderThan(days).then((n) => {
      if (n > 0) log.info({ stage: 'store', removed: n, days }, 'old alerts removed (retention)');
    }, (err: unknown) => log.warn({ stage: 'store', code: 'E_STORE', err: errorMessage(err) }, 'retention cleanup failed; will retry in an hour'));
    // Statistics are removed only once uploaded and older than retention.
    Promise.resolve().then(() => h.stats.purgeAggregates(days)).catch((err: unknown) =>
      log.warn({ stage: 'store', code: 'E_STORE', err: errorMessage(err) }, 'statistics retention cleanup failed; will retry in an hour'));
  };
  // Cumulative camera counters become per-minute deltas; every few seconds is enough.
  const snapshotTimer = setInterval(() => h.aggregator.onSnapshots(h.snapshots(), h.provider()), SNAPSHOT_EVERY_MS);
  snapshotTimer.unref();
  closers.add('statistics timer', () => clearInterval(snapshotTimer));
  h.sync.startSchedule();
  const retentionTimer = setInterval(purge, RETENTION_EVERY_MS);
  retentionTimer.unref();
  closers.add('retention timer', () => clearInterval(retentionTimer));
  purge();
}
