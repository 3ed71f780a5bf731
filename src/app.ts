import { systemClock, type Clock } from './clock.js';
import type { CameraConfig, Config } from './config/schema.js';
import { CoverageLedger } from './coverage.js';
import type { CaptureStage } from './capture/capture.js';
import { captureBand, registerCaptureMetrics, startCapture } from './capture/index.js';
import { EventsStage, type StoredEvent } from './events/stage.js';
import type { TrackView } from './events/index.js';
import { CameraHealthMonitor, healthConfigFor, type ResolvedHealthConfig } from './health/index.js';
import { Camera, type FrameSource } from './ingest/camera.js';
import { CameraSet, type CameraChanges } from './ingest/camera-set.js';
import { pictureEvery } from './ingest/ffmpeg-args.js';
import { createDetector, framesPerCall, type Detector } from './infer/detector.js';
import { ModelSlot } from './infer/model-slot.js';
import { InferenceScheduler } from './infer/scheduler.js';
import type { Logger } from './log.js';
import { Closers } from './ops/closers.js';
import { startHousekeeping } from './ops/housekeeping.js';
import { LineHealth, type HealthMonitorLike } from './line-health.js';
import { Listeners } from './listeners.js';
import type { LineContext } from './context/line-context.js';
import { startContext } from './context/start.js';
import type { LineRecipes } from './recipes/line-recipes.js';
import { rulesFor, withDetectorFloor } from './recipes/rules.js';
import { startRecipes } from './recipes/start.js';
import type { LineModels } from './models/line-models.js';
import { startModels } from './models/line-setup.js';
import type { ShadowControl } from './models/shadow-control.js';
import { detectorOptions } from './models/load.js';
import { startModelPath } from './models/registry.js';
import { startOverlay, type Overlay } from './overlay/index.js';
import { startReconciliation } from './mes/reconciliation.js';
import { lineView } from './overlay/line-view.js';
import type { ModelsApi, OverlaySource, Unsubscribe } from './overlay/source.js';
import { LETTERBOX_PAD } from './preprocess/letterbox.js';
import { startPublisher, type Publisher, type PublisherOptions } from './publish/index.js';
import { lineSparkplug } from './sparkplug/line.js';
import type { AggregateStore } from './store/aggregate-store.js';
import { MinuteAggregator } from './store/aggregator.js';
import { openStore, type Store } from './store/index.js';
import { createSync, syncStatusPayload, type Sync } from './sync/index.js';
import { lineBatchExtras } from './sync/line-extras.js';
import type { CameraSnapshot, DefectEvent, InspectedFrame, Picture, ProductionContext } from './types.js';
import { VERSION } from './version.js';
import { expectRunningCamera } from './verdicts/refusal.js';
import { Verdicts } from './verdicts/service.js';
import { parseFreezeRequest } from './verdicts/validate.js';

/**
 * The running line. This file is wiring only: it opens the stages in order
 * (model, store, upload, publisher, events, scheduler, cameras, overlay),
 * connects them, and closes them in the reverse order. Data flows one way:
 * cameras → scheduler → detector → events stage → outbox → publisher.
 */
export interface Line {
  readonly config: Config;
  /** The detector running now (`models` swaps it between batches). */
  readonly detector: Detector;
  /** Which model runs, and switching to another without stopping the cameras (docs/models.md). */
  readonly models: LineModels;
  /** The production context (order, lot, …) stamped on alerts, health events and verdicts by capture time. */
  readonly context: LineContext;
  /** The active recipe: thresholds, regions and model per product. */
  readonly recipes: LineRecipes;
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

function openDetector(config: Config, path: string, log: Logger): Promise<Detector> {
  // Picture capture also wants the detections just under the thresholds (never tracked or alerted).
  return createDetector(detectorOptions(config.model, path, { captureBand: captureBand(config) }), log);
}

/** Opens every stage of the line described by `config`; on any failure closes what was opened and rethrows. */
export async function startLine(config: Config, log: Logger, options: LineOptions = {}): Promise<Line> {
  const clock = options.clock ?? systemClock;
  const closers = new Closers(log);
  // The model last promoted on this box, unless model.path changed since (see startModelPath).
  const startPath = startModelPath(config.store.path, config.model.path).path;
  // With recipes, models decode at the lowest threshold any recipe needs; the events stage cuts at the active one's.
  const decoding = withDetectorFloor(config);
  const first: Detector = await closers.open('model', () => openDetector(decoding, startPath, log), (): Promise<void> => slot.close());
  const slot: ModelSlot = new ModelSlot(first, log);
  const detector = { get info() { return slot.current().info; } };
  const model = slot.refOf(first); // for alerts recorded without their model (older rows)
  const store = await closers.open('store', () =>
    openStore(config.store.path, { outboxMaxRows: config.store.outbox_max_rows, outboxFullPolicy: config.store.outbox_full_policy }, log), (s) => s.close());
  const stats = store.statistics();
  const aggregator = await closers.open('statistics', () => new MinuteAggregator({ sink: stats, log, clock, degraded: (id) => coverage.isDegraded(id) }), (a) => a.close());
  const sync = await closers.open('upload', () => createSync({
    config: config.sync, site: config.site, line: config.line, store: stats, log, retentionDays: config.store.retention_days, version: VERSION, clock,
    extras: lineBatchExtras(stats.db),
  }), (s) => s.stop());

  // The cameras exist before anyone reads them (the statuses, the statistics); they start last.
  const coverage = new CoverageLedger(clock);
  const health = new LineHealth(coverage, log);
  const makeMonitor = options.healthMonitor ?? ((id: string, cfg: ResolvedHealthConfig) => cfg.enabled ? new CameraHealthMonitor(id, cfg, { clock, log }) : undefined);
  const cameras = cameraSet(config, { detector, coverage, clock, log });
  const snapshots = () => cameras.snapshots().map((s) => health.decorate(s));
  const publisher = await closers.open('publisher', () => startPublisher({
    ...publisherOptions(config, { store, sync, aggregator, cameras, snapshots, provider: () => detector.info.provider }),
    model, log, clock, tuning: options.publisherTuning,
  }), (p) => p.stop());
  const lineContext = await closers.open('context', () => startContext(config, publisher, log, clock), (c) => c.close());
  // Shift summaries and replays on request, for the MES to reconcile against; closed before the publisher.
  await closers.open('reconciliation', () => startReconciliation(config, { db: stats.db, publisher, model, cameras: () => cameras.configured(), clock, log }), (r) => r.close());
  const verdicts = new Verdicts({
    store, stored: () => publisher.kickVerdicts(), count: (counts) => aggregator.onVerdict(counts), clock, log,
    classNames: () => detector.info.classNames, cameras: () => cameras.snapshots().map((s) => s.id),
    context: (ts) => lineContext.at(ts),
  });
  // Full-size pictures kept for training (alert frames, missed defects, capture policies); closed after the events stage.
  const capture = await closers.open('pictures', () => startCapture({ config, table: store.pictures(), storeHealth: () => store.health(), model: () => detector.info, clock, log }), (c) => c.close());
  health.sinks = healthSinks({ store, publisher, context: lineContext, snapshots, provider: () => detector.info.provider });
  // The last camera counters of the run become its last minute of statistics.
  closers.add('statistics snapshot', () => aggregator.onSnapshots(snapshots(), detector.info.provider));

  const events = new EventsStage(config, {
    captured: (id, captureMono) => publisher.captured(id, captureMono),
    record: (event, by) => store.recordEvent(event, by ?? model),
    unstored: (event, _err, by) => publishUnstored(store, publisher, event, by ?? model),
    stored: () => publisher.kick(),
    counted: (result, confirmed) => aggregator.onInspected(result, confirmed),
    context: (ts) => lineContext.at(ts),
  }, log, clock);
  // Recipes open the detector at the lowest threshold any of them needs: with none active, the configuration's thresholds cut here.
  if (decoding !== config) events.setBaseRules(rulesFor(config, ''));
  closers.add('events', () => events.close()); // alerts waiting for their picture go out without it
  const joined = new Map<string, CameraConfig>();
  const models = await closers.open('models', () => startModels({
    config: decoding, slot, startPath, log, clock, cameras: () => joined.values(), rules: () => events.currentRules(),
    // Other class names: the trackers start again (their tracks' class ids would mean other classes).
    classesChanged: () => { for (const cfg of joined.values()) events.addCamera(cfg); },
  }), (m) => m.close());
  // The active recipe (and its model) before the first frame is inspected.
  const recipes = await closers.open('recipes', () => startRecipes(config, { publisher, apply: (rules) => events.applyRules(rules), models, log, clock }), (r) => r.close());
  const scheduler = new InferenceScheduler(slot, {
    batchMax: framesPerCall(detector.info, config.model.batch_max), batchWaitMs: config.model.batch_wait_ms, sessions: detector.info.sessions, clock,
  }, coverage, log);
  scheduler.on('inspected', (result) => events.inspect(result));
  scheduler.start();
  closers.add('scheduler', () => scheduler.stop()); // the batch in flight finishes and its events are stored

  const pictures = new Listeners<[Picture]>();
  capture.attach({ events, verdicts, pictures, cameras });
  const monitorOf = (cfg: CameraConfig) => makeMonitor(cfg.id, healthConfigFor(cfg, config));
  wireCameras(cameras, { detector, scheduler, events, publisher, pictures, health, monitorOf, joined, shadow: models.shadow });
  for (const cam of config.cameras) cameras.start(cam);
  closers.add('cameras', () => cameras.stopAll());
  closers.add('health monitors', () => health.closeAll());
  const registry = startHousekeeping(config, log, { store, stats, sync, aggregator, publisher, snapshots, provider: () => detector.info.provider, clock }, closers);
  registerCaptureMetrics(registry, capture);
  // The Sparkplug B edge node (mqtt.sparkplug), on its own connection; its defects come from the alert history.
  const sparkplug = await closers.open('sparkplug', () => lineSparkplug({ config, store, publisher, snapshots, model: () => detector.info, recipe: () => recipes.active, version: VERSION, log, clock, tuning: options.publisherTuning }), (s) => s?.stop());
  events.on('alert', () => sparkplug?.kick());

  let stopped: Promise<void> | null = null;
  const { view, inspected, alerts } = operatorView({
    config, detector, snapshots, pictures, events, verdicts, store, health, publisher, models: models.api, running: () => stopped === null,
    freeze: freezeAction(capture.stage, () => cameras.snapshots().map((s) => s.id)),
  });
  const overlay = options.overlay === false ? undefined
    : await closers.open('overlay', () => startOverlay(config.overlay, view, log, { metricsRegistry: registry, clock }), (o) => o.close());

  return {
    config, store, publisher, stats, sync, overlay, coverage, models, context: lineContext, recipes,
    get detector() { return slot.current(); },
    cameras: snapshots,
    onInspected: (fn) => inspected.add(fn),
    onAlert: (fn) => alerts.add(fn),
    overlaySource: () => view,
    relearnHealth: (id) => health.relearn(id),
    reconfigureCameras: (next) => cameras.reconfigure(next),
    stop: () => (stopped ??= closers.closeAll()),
  };
}

/** The line's cameras, not started yet: ffmpeg letterboxes to the model input and waits for its credits. */
function cameraSet(config: Config, d: { detector: Pick<Detector, 'info'>; coverage: CoverageLedger; clock: Clock; log: Logger }): CameraSet {
  const { detector, log } = d;
  return new CameraSet((cfg) => new Camera(cfg, config.ingest, log, {
    coverage: d.coverage, clock: d.clock,
    // Files replayed as fast as possible wait for the model (its credits) instead of decoding frames it would drop.
    flowControl: true,
    // ffmpeg letterboxes to the model input; the full-size picture comes as often as the preview needs it.
    letterbox: { width: detector.info.inputWidth, height: detector.info.inputHeight, pictureEvery: pictureEvery(cfg.fps, config.overlay.preview_fps), pad: LETTERBOX_PAD },
  }), log, config.cameras);
}

/** What the publisher reads of the line: its outboxes, statuses and upload state. */
function publisherOptions(config: Config, d: {
  store: Store; sync: Sync; aggregator: MinuteAggregator; cameras: CameraSet; snapshots: () => CameraSnapshot[]; provider: () => string;
}): Omit<PublisherOptions, 'model' | 'log' | 'clock' | 'tuning'> {
  const { store } = d;
  return {
    mqtt: config.mqtt, site: config.site, line: config.line, version: VERSION, outbox: store,
    cameras: () => d.cameras.configured().filter((c) => c.enabled).map((c) => c.id),
    statusSource: () => ({ snapshots: d.snapshots(), provider: d.provider() }),
    nodeExtra: () => ({ sync: syncStatusPayload(d.sync.status()) }),
    onDelivered: (camera, latencyMs) => d.aggregator.onPublished(camera, latencyMs),
    storeHealth: () => store.health(),
    healthOutbox: store.healthOutbox,
    verdictOutbox: store.verdictOutbox,
  };
}

interface ViewDeps {
  config: Config;
  detector: Pick<Detector, 'info'>;
  snapshots: () => CameraSnapshot[];
  pictures: Listeners<[Picture]>;
  events: EventsStage;
  verdicts: Verdicts;
  store: Store;
  health: LineHealth;
  publisher: Publisher;
  models: ModelsApi;
  running: () => boolean;
  freeze: NonNullable<OverlaySource['freeze']>;
}

/** The page froze a camera's frame to draw on it: keep that exact frame, for a camera that is running. */
function freezeAction(stage: Pick<CaptureStage, 'freeze'>, running: () => string[]): NonNullable<OverlaySource['freeze']> {
  return async (camera, body) => {
    expectRunningCamera(camera, running());
    return { kept: await stage.freeze(camera, parseFreezeRequest(body).ts) };
  };
}

/** What the operator page reads of the line, and the listeners it subscribes through. */
function operatorView(d: ViewDeps): { view: OverlaySource; inspected: Listeners<[InspectedFrame, TrackView[]]>; alerts: Listeners<[StoredEvent, Picture | undefined]> } {
  const { config, events, verdicts, store, pictures } = d;
  const inspected = new Listeners<[InspectedFrame, TrackView[]]>();
  const alerts = new Listeners<[StoredEvent, Picture | undefined]>();
  events.on('inspected', (result, tracks) => inspected.emit(result, tracks));
  events.on('alert', (alert, picture) => alerts.emit(alert, picture));
  const view = lineView({
    site: config.site, line: config.line, model: () => d.detector.info, cameras: d.snapshots,
    onPicture: (fn) => pictures.add(fn), onInspected: (fn) => inspected.add(fn), onAlert: (fn) => alerts.add(fn),
    recentAlerts: (limit) => verdicts.withVerdicts(store.recentAlerts({ limit })), relearnHealth: (id) => d.health.relearn(id),
    verdict: (alertId, body) => verdicts.judge(alertId, body), missed: (camera, body) => verdicts.missed(camera, body),
    withdraw: (id, body) => verdicts.withdraw(id, body), recentMissed: (limit) => verdicts.recentMissed(limit),
    freeze: (camera, body) => d.freeze(camera, body),
    onVerdict: (fn) => verdicts.onVerdict(fn), models: d.models,
    running: d.running, mqttConnected: () => d.publisher.connected, outboxDepth: () => store.depth(),
  });
  return { view, inspected, alerts };
}

/** Health changes are stored with the production context in force when they began, then published. */
function healthSinks(d: {
  store: Store; publisher: Publisher; context: { at(ts: number): ProductionContext | undefined };
  snapshots: () => CameraSnapshot[]; provider: () => string;
}): NonNullable<LineHealth['sinks']> {
  return {
    record: (event) => {
      const context = d.context.at(event.since);
      d.store.recordHealth(context ? { ...event, context } : event);
    },
    stored: () => d.publisher.kickHealth(),
    changed: (id) => {
      const snapshot = d.snapshots().find((s) => s.id === id);
      if (snapshot) d.publisher.publishCameraStatus(snapshot, { provider: d.provider() });
    },
  };
}

/** An alert the store could not commit still reaches the broker, with a seq continued in memory. */
function publishUnstored(store: Store, publisher: Publisher, event: DefectEvent, model: { name: string; version: string }): { seq: number } {
  const seq = store.allocateUnstored(event.camera);
  publisher.publishUnstored({ event, seq, model });
  return { seq };
}

interface CameraWiring {
  detector: Pick<Detector, 'info'>;
  /** The cameras running, with their configuration. */
  joined: Map<string, CameraConfig>;
  /** The candidate model's shadow run, offered the same frames. */
  shadow: ShadowControl;
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
    w.joined.set(cfg.id, cfg);
    w.shadow.addCamera(cfg);
    events.addCamera(cfg);
    const monitor = w.monitorOf(cfg);
    if (monitor) health.add(cfg.id, monitor);
    camera.on('frame', (frame) => {
      // The monitor reads the model input now: once offered, the scheduler may release it.
      health.offer(frame);
      w.shadow.offer(frame); // copies the frame when sampled: before the scheduler may release it
      scheduler.offer(frame);
    });
    camera.on('picture', (picture) => {
      events.picture(picture);
      pictures.emit(picture);
    });
    camera.on('state', () => publisher.publishCameraStatus(health.decorate(camera.snapshot()), { provider: detector.info.provider }));
  });
  cameras.on('left', (id) => {
    w.joined.delete(id);
    w.shadow.removeCamera(id);
    scheduler.forget(id);
    events.removeCamera(id);
    health.remove(id);
  });
  scheduler.on('taken', (camera) => cameras.grant(camera));
}
