import { systemClock, type Clock } from './clock.js';
import type { CameraConfig, Config } from './config/schema.js';
import { CoverageLedger } from './coverage.js';
import { EventsStage, type StoredEvent } from './events/stage.js';
import type { TrackView } from './events/index.js';
import { CameraHealthMonitor, healthConfigFor, type ResolvedHealthConfig } from './health/index.js';
import { Camera, type FrameSource } from './ingest/camera.js';
import { CameraSet, type CameraChanges } from './ingest/camera-set.js';
import { pictureEvery } from './ingest/ffmpeg-args.js';
import { createDetector, framesPerCall, type Detector } from './infer/detector.js';
import { ensureProviderDirs, providerOptions } from './infer/providers.js';
import { InferenceScheduler } from './infer/scheduler.js';
import type { Logger } from './log.js';
import { Closers } from './ops/closers.js';
import { startHousekeeping } from './ops/housekeeping.js';
import { LineHealth, type HealthMonitorLike } from './line-health.js';
import { Listeners } from './listeners.js';
import { startOverlay, type Overlay } from './overlay/index.js';
import { lineView } from './overlay/line-view.js';
import type { OverlaySource, Unsubscribe } from './overlay/source.js';
import { LETTERBOX_PAD } from './preprocess/letterbox.js';
import { startPublisher, type Publisher } from './publish/index.js';
import type { AggregateStore } from './store/aggregate-store.js';
import { MinuteAggregator } from './store/aggregator.js';
import { openStore, type Store } from './store/index.js';
import { createSync, syncStatusPayload, type Sync } from './sync/index.js';
import type { CameraSnapshot, DefectEvent, InspectedFrame, Picture } from './types.js';
import { VERSION } from './version.js';
import { Verdicts } from './verdicts/service.js';

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
  /**
   * Forgets camera `cameraId`'s learned health baseline (after the camera was
   * moved or refocused on purpose) and learns it again from its next frames.
   * Throws E_ARGUMENT for a camera that is not running.
   */
  relearnHealth(cameraId: string): void;
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
  /** Time for every stage of the line (tests move it by hand, or step its wall clock). Default: the system clock. */
  clock?: Clock;
  /** Makes a camera's health monitor (tests drive their own). Default: `CameraHealthMonitor`, for cameras whose checks are enabled. */
  healthMonitor?: (cameraId: string, cfg: ResolvedHealthConfig) => HealthMonitorLike | undefined;
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
  const clock = options.clock ?? systemClock;
  const closers = new Closers(log);
  const detector = await closers.open('model', () => openDetector(config, log), (d) => d.close());
  const model = { name: detector.info.name, version: detector.info.version };
  const store = await closers.open('store', () =>
    openStore(config.store.path, { outboxMaxRows: config.store.outbox_max_rows, outboxFullPolicy: config.store.outbox_full_policy }, log), (s) => s.close());
  const stats = store.statistics();
  const aggregator = await closers.open('statistics', () => new MinuteAggregator({ sink: stats, log, clock, degraded: (id) => coverage.isDegraded(id) }), (a) => a.close());
  const sync = await closers.open('upload', () => createSync({
    config: config.sync, site: config.site, line: config.line, store: stats, log, retentionDays: config.store.retention_days, version: VERSION, clock,
  }), (s) => s.stop());

  // The cameras exist before anyone reads them (the statuses, the statistics); they start last.
  const coverage = new CoverageLedger(clock);
  const health = new LineHealth(coverage, log);
  const makeMonitor = options.healthMonitor ?? ((id: string, cfg: ResolvedHealthConfig) => cfg.enabled ? new CameraHealthMonitor(id, cfg, { clock, log }) : undefined);
  const cameras = new CameraSet((cfg) => new Camera(cfg, config.ingest, log, {
    coverage, clock,
    // Files replayed as fast as possible wait for the model (its credits) instead of decoding frames it would drop.
    flowControl: true,
    // ffmpeg letterboxes to the model input; the full-size picture comes as often as the preview needs it.
    letterbox: { width: detector.info.inputWidth, height: detector.info.inputHeight, pictureEvery: pictureEvery(cfg.fps, config.overlay.preview_fps), pad: LETTERBOX_PAD },
  }), log);
  const snapshots = () => cameras.snapshots().map((s) => health.decorate(s));
  const publisher = await closers.open('publisher', () => startPublisher({
    mqtt: config.mqtt, site: config.site, line: config.line, model, version: VERSION, outbox: store, log, clock,
    cameras: config.cameras.filter((c) => c.enabled).map((c) => c.id),
    statusSource: () => ({ snapshots: snapshots(), provider: detector.info.provider }),
    tuning: options.publisherTuning,
    nodeExtra: () => ({ sync: syncStatusPayload(sync.status()) }),
    onDelivered: (camera, latencyMs) => aggregator.onPublished(camera, latencyMs),
    storeHealth: () => store.health(),
    healthOutbox: store.healthOutbox,
    verdictOutbox: store.verdictOutbox,
  }), (p) => p.stop());
  const verdicts = new Verdicts({
    store, stored: () => publisher.kickVerdicts(), count: (counts) => aggregator.onVerdict(counts), clock, log,
    classNames: () => detector.info.classNames, cameras: () => cameras.snapshots().map((s) => s.id),
  });
  health.sinks = {
    record: (event) => store.recordHealth(event),
    stored: () => publisher.kickHealth(),
    changed: (id) => {
      const snapshot = snapshots().find((s) => s.id === id);
      if (snapshot) publisher.publishCameraStatus(snapshot, { provider: detector.info.provider });
    },
  };
  // The last camera counters of the run become its last minute of statistics.
  closers.add('statistics snapshot', () => aggregator.onSnapshots(snapshots(), detector.info.provider));

  const events = new EventsStage(config, {
    captured: (id, captureMono) => publisher.captured(id, captureMono),
    record: (event) => store.recordEvent(event, model),
    unstored: (event) => publishUnstored(store, publisher, event, model),
    stored: () => publisher.kick(),
    counted: (result, confirmed) => aggregator.onInspected(result, confirmed),
  }, log, clock);
  closers.add('events', () => events.close()); // alerts waiting for their picture go out without it
  const scheduler = new InferenceScheduler(detector, {
    batchMax: framesPerCall(detector.info, config.model.batch_max), batchWaitMs: config.model.batch_wait_ms, sessions: detector.info.sessions, clock,
  }, coverage, log);
  scheduler.on('inspected', (result) => events.inspect(result));
  scheduler.start();
  closers.add('scheduler', () => scheduler.stop()); // the batch in flight finishes and its events are stored

  const pictures = new Listeners<[Picture]>();
  const monitorOf = (cfg: CameraConfig) => makeMonitor(cfg.id, healthConfigFor(cfg, config));
  wireCameras(cameras, { detector, scheduler, events, publisher, pictures, health, monitorOf });
  for (const cam of config.cameras) cameras.start(cam);
  closers.add('cameras', () => cameras.stopAll());
  closers.add('health monitors', () => health.closeAll());
  const registry = startHousekeeping(config, log, { store, stats, sync, aggregator, publisher, snapshots, provider: () => detector.info.provider, clock }, closers);

  let stopped: Promise<void> | null = null;
  const inspected = new Listeners<[InspectedFrame, TrackView[]]>();
  const alerts = new Listeners<[StoredEvent, Picture | undefined]>();
  events.on('inspected', (result, tracks) => inspected.emit(result, tracks));
  events.on('alert', (alert, picture) => alerts.emit(alert, picture));
  const view = lineView({
    site: config.site, line: config.line, model: () => detector.info, cameras: snapshots,
    onPicture: (fn) => pictures.add(fn), onInspected: (fn) => inspected.add(fn), onAlert: (fn) => alerts.add(fn),
    recentAlerts: (limit) => verdicts.withVerdicts(store.recentAlerts({ limit })), relearnHealth: (id) => health.relearn(id),
    verdict: (alertId, body) => verdicts.judge(alertId, body), missed: (camera, body) => verdicts.missed(camera, body),
    onVerdict: (fn) => verdicts.onVerdict(fn),
    running: () => stopped === null, mqttConnected: () => publisher.connected, outboxDepth: () => store.depth(),
  });
  const overlay = options.overlay === false ? undefined
    : await closers.open('overlay', () => startOverlay(config.overlay, view, log, { metricsRegistry: registry, clock }), (o) => o.close());

  return {
    config, detector, store, publisher, stats, sync, overlay, coverage,
    cameras: snapshots,
    onInspected: (fn) => inspected.add(fn),
    onAlert: (fn) => alerts.add(fn),
    overlaySource: () => view,
    relearnHealth: (id) => health.relearn(id),
    reconfigureCameras: (next) => cameras.reconfigure(next),
    stop: () => (stopped ??= closers.closeAll()),
  };
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
  health: LineHealth;
  monitorOf: (cfg: CameraConfig) => HealthMonitorLike | undefined;
}

/**
 * Cameras feed their health monitor and the scheduler (their newest frame), and
 * the events stage and the overlay (their pictures); the scheduler grants them credits.
 */
function wireCameras(cameras: CameraSet, w: CameraWiring): void {
  const { detector, scheduler, events, publisher, pictures, health } = w;
  cameras.on('joined', (camera: FrameSource, cfg) => {
    events.addCamera(cfg);
    const monitor = w.monitorOf(cfg);
    if (monitor) health.add(cfg.id, monitor);
    camera.on('frame', (frame) => {
      // The monitor reads the model input now: once offered, the scheduler may release it.
      health.offer(frame);
      scheduler.offer(frame);
    });
    camera.on('picture', (picture) => {
      events.picture(picture);
      pictures.emit(picture);
    });
    camera.on('state', () => publisher.publishCameraStatus(health.decorate(camera.snapshot()), { provider: detector.info.provider }));
  });
  cameras.on('left', (id) => {
    scheduler.forget(id);
    events.removeCamera(id);
    health.remove(id);
  });
  scheduler.on('taken', (camera) => cameras.grant(camera));
}
