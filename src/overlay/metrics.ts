import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { HealthReason, HealthStateName } from '../health/types.js';
import type { CameraState, InspectedFrame } from '../types.js';
import type { ClientHub } from './clients.js';
import type { PreviewEncoder } from './preview.js';
import type { OverlaySource } from './source.js';

const STATES: CameraState[] = ['connecting', 'online', 'reconnecting', 'stopped'];
const HEALTH_STATES: HealthStateName[] = ['ok', 'degraded'];
const HEALTH_REASONS: HealthReason[] = ['frozen', 'dark', 'bright', 'covered', 'blurred', 'moved'];

export interface OverlayMetrics {
  /** Feeds the inference and latency histograms; called for every inspected frame. */
  observeInspected(result: InspectedFrame): void;
  /** Unregisters every metric (a registry can outlive one overlay). */
  remove(): void;
}

/**
 * The Prometheus metrics of the line. Counts and states are read from the
 * source's snapshots when scraped (collect), so they can never drift from what
 * the status topic and the page show; only the histograms are fed as frames pass.
 */
export function createMetrics(registry: Registry, source: OverlaySource, hub: ClientHub, previews: PreviewEncoder): OverlayMetrics {
  const registers = [registry];
  const names: string[] = [];
  const counter = (name: string, help: string, labelNames: string[], collect: (m: Counter) => void) => {
    names.push(name);
    return new Counter({ name, help, labelNames, registers, collect(this: Counter) { this.reset(); collect(this); } });
  };
  const gauge = (name: string, help: string, labelNames: string[], collect: (m: Gauge) => void) => {
    names.push(name);
    return new Gauge({ name, help, labelNames, registers, collect(this: Gauge) { this.reset(); collect(this); } });
  };

  counter('linesight_frames_received_total', 'Frames decoded from the camera', ['camera'], (m) => {
    for (const c of source.cameras()) m.inc({ camera: c.id }, c.framesReceived);
  });
  counter('linesight_frames_inspected_total', 'Frames the detector ran on', ['camera'], (m) => {
    for (const c of source.cameras()) m.inc({ camera: c.id }, c.framesInspected);
  });
  counter('linesight_frames_dropped_total', 'Frames that never reached the detector, by reason', ['camera', 'reason'], (m) => {
    for (const c of source.cameras()) {
      for (const [reason, n] of Object.entries(c.framesDropped)) m.inc({ camera: c.id, reason }, n);
    }
  });
  counter('linesight_camera_restarts_total', 'ffmpeg restarts of the camera', ['camera'], (m) => {
    for (const c of source.cameras()) m.inc({ camera: c.id }, c.restarts);
  });
  gauge('linesight_camera_fps', 'Frames per second actually received over the last seconds', ['camera'], (m) => {
    for (const c of source.cameras()) m.set({ camera: c.id }, c.fps);
  });
  gauge('linesight_camera_frame_age_seconds', 'Seconds since the camera’s last frame arrived', ['camera'], (m) => {
    const now = Date.now();
    // Wall clock on both sides; floored so a step of the clock between a frame and the scrape never shows a negative age.
    for (const c of source.cameras()) if (c.lastFrameTs !== undefined) m.set({ camera: c.id }, Math.max(0, now - c.lastFrameTs) / 1000);
  });
  gauge('linesight_camera_state', '1 for the camera’s current state, 0 for the others', ['camera', 'state'], (m) => {
    for (const c of source.cameras()) for (const s of STATES) m.set({ camera: c.id, state: s }, c.state === s ? 1 : 0);
  });
  registerHealthMetrics(source, counter, gauge);
  gauge('linesight_cameras_online', 'Cameras currently delivering frames', [], (m) => {
    m.set(source.cameras().filter((c) => c.state === 'online').length);
  });
  gauge('linesight_inference_provider', '1 for the execution provider the model runs on', ['provider', 'model', 'version'], (m) => {
    const info = source.model();
    m.set({ provider: info.provider, model: info.name, version: info.version }, 1);
  });
  gauge('linesight_pipeline_alive', '1 when the pipeline is alive (as /healthz)', [], (m) => {
    m.set(source.health().alive ? 1 : 0);
  });
  gauge('linesight_mqtt_connected', '1 when connected to the MQTT broker (absent when unknown)', [], (m) => {
    const h = source.health();
    if (typeof h.mqttConnected === 'boolean') m.set(h.mqttConnected ? 1 : 0);
  });
  gauge('linesight_outbox_depth', 'Alerts stored but not yet acknowledged by the broker (absent when unknown)', [], (m) => {
    const h = source.health();
    if (typeof h.outboxDepth === 'number') m.set(h.outboxDepth);
  });
  gauge('linesight_overlay_clients', 'Operator pages connected', [], (m) => m.set(hub.size));
  counter('linesight_overlay_previews_encoded_total', 'Preview JPEGs encoded (once for all pages)', [], (m) => m.inc(previews.counters.encoded));
  counter('linesight_overlay_previews_sent_total', 'Preview messages sent, summed over pages', [], (m) => m.inc(hub.totals.previewsSent));
  counter('linesight_overlay_previews_skipped_total', 'Previews not sent to a page because it was behind', [], (m) => m.inc(hub.totals.previewsSkipped));

  names.push('linesight_inference_seconds', 'linesight_latency_seconds');
  const inference = new Histogram({
    name: 'linesight_inference_seconds',
    help: 'Duration of one detector session call (a batch counts once)',
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers,
  });
  const latency = new Histogram({
    name: 'linesight_latency_seconds',
    help: 'Frame capture to detections ready, per inspected frame',
    labelNames: ['camera'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });

  // Frames of one batch arrive one after another with the same inferredAt and inferMs.
  let lastBatch = '';
  return {
    observeInspected(r) {
      const batch = `${r.inferredAt}:${r.inferMs}`;
      if (batch !== lastBatch) inference.observe(r.inferMs / 1000);
      lastBatch = batch;
      latency.observe({ camera: r.frame.camera }, r.latencyMs / 1000);
    },
    remove() {
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}

type Register<M> = (name: string, help: string, labelNames: string[], collect: (m: M) => void) => M;

/** Camera health: the state and each reason as 0/1 gauges (every label present, so an alert rule sees the 0 too), and the degraded counts. */
function registerHealthMetrics(source: OverlaySource, counter: Register<Counter>, gauge: Register<Gauge>): void {
  gauge('linesight_camera_health', '1 for the camera’s current health state (ok, degraded), 0 for the other; absent when not watched', ['camera', 'state'], (m) => {
    for (const c of source.cameras()) if (c.health) for (const s of HEALTH_STATES) m.set({ camera: c.id, state: s }, c.health.state === s ? 1 : 0);
  });
  gauge('linesight_camera_health_reason', '1 while the reason holds for the camera, 0 otherwise', ['camera', 'reason'], (m) => {
    for (const c of source.cameras()) if (c.health) for (const r of HEALTH_REASONS) m.set({ camera: c.id, reason: r }, c.health.reasons.includes(r) ? 1 : 0);
  });
  counter('linesight_frames_inspected_degraded_total', 'Frames the detector ran on while the camera was degraded (no proof of a clean part)', ['camera'], (m) => {
    for (const c of source.cameras()) m.inc({ camera: c.id }, c.framesInspectedDegraded ?? 0);
  });
  counter('linesight_camera_degraded_seconds_total', 'Seconds the camera has been degraded', ['camera'], (m) => {
    for (const c of source.cameras()) m.inc({ camera: c.id }, c.secondsDegraded ?? 0);
  });
}
