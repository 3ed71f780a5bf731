import type { OverlayConfig } from '../config/schema.js';
import type { CameraSnapshot, InspectedFrame } from '../types.js';
import type { CameraHealthView, CameraStatus, DetectionsMessage, HelloMessage, StatusMessage } from './protocol.js';
import type { OverlaySource, TrackView } from './source.js';

/** Builders of the JSON messages from what the source reports (pure but for the clock). */

export function helloMessage(source: OverlaySource, config: OverlayConfig, now = Date.now()): HelloMessage {
  const model = source.model();
  return {
    v: 1,
    type: 'hello',
    site: source.site,
    line: source.line,
    ts: now,
    model: { name: model.name, version: model.version, provider: model.provider, classes: model.classNames },
    preview: { width: config.preview_width, fps: config.preview_fps },
    cameras: source.cameras().map((c) => ({ id: c.id, state: c.state, width: c.width, height: c.height, health: healthView(c) })),
    operatorActions: config.token === undefined && config.operator_token === undefined ? 'open' : 'token',
  };
}

export function cameraStatus(c: CameraSnapshot, provider: string, now: number): CameraStatus {
  return {
    id: c.id,
    state: c.state,
    fps: c.fps,
    frameAgeMs: c.lastFrameTs === undefined ? null : Math.max(0, now - c.lastFrameTs),
    lastFrameTs: c.lastFrameTs ?? null,
    framesReceived: c.framesReceived,
    framesInspected: c.framesInspected,
    framesDropped: c.framesDropped,
    coverage: c.framesReceived > 0 ? c.framesInspected / c.framesReceived : null,
    provider,
    restarts: c.restarts,
    width: c.width,
    height: c.height,
    lastError: c.lastError ?? null,
    health: healthView(c),
    framesInspectedDegraded: c.framesInspectedDegraded ?? 0,
    secondsDegraded: c.secondsDegraded ?? 0,
  };
}

function healthView(c: CameraSnapshot): CameraHealthView | null {
  const h = c.health;
  return h ? { state: h.state, reasons: [...h.reasons], since: h.since, learning: h.learning } : null;
}

export function statusMessage(source: OverlaySource, clients: number, now = Date.now()): StatusMessage {
  const health = source.health();
  const provider = source.model().provider;
  return {
    v: 1,
    type: 'status',
    ts: now,
    alive: health.alive,
    mqttConnected: typeof health.mqttConnected === 'boolean' ? health.mqttConnected : null,
    outboxDepth: typeof health.outboxDepth === 'number' ? health.outboxDepth : null,
    clients,
    cameras: source.cameras().map((c) => cameraStatus(c, provider, now)),
  };
}

export function detectionsMessage(r: InspectedFrame, tracks: TrackView[]): DetectionsMessage {
  return {
    v: 1,
    type: 'detections',
    camera: r.frame.camera,
    seq: r.frame.seq,
    ts: r.frame.captureTs,
    inferredAt: r.inferredAt,
    frame: { width: r.frame.width, height: r.frame.height },
    detections: r.detections.map((d) => ({ classId: d.classId, className: d.className, confidence: d.confidence, box: d.box })),
    tracks,
  };
}
