import type { CameraSnapshot, InspectedFrame, ModelInfo, Picture } from '../types.js';
import type { AlertView, OverlaySource, TrackView, Unsubscribe } from './source.js';

/** The parts of a running line the operator page reads; `src/app.ts` hands them over. */
export interface LineParts {
  site: string;
  line: string;
  model(): ModelInfo;
  cameras(): CameraSnapshot[];
  /** Full-size pictures as ingest emits them. */
  onPicture(listener: (picture: Picture) => void): Unsubscribe;
  onInspected(listener: (result: InspectedFrame, tracks: TrackView[]) => void): Unsubscribe;
  onAlert(listener: (alert: AlertView, picture?: Picture) => void): Unsubscribe;
  recentAlerts(limit: number): AlertView[];
  running(): boolean;
  mqttConnected(): boolean;
  outboxDepth(): number;
}

/**
 * The overlay's view of the line: read-only, and nothing a stage could be
 * reached through. Health is read when asked (for /healthz and /metrics), never
 * cached, so a dead broker shows at once.
 */
export function lineView(parts: LineParts): OverlaySource {
  const { site, line, model, cameras, onPicture, onInspected, onAlert, recentAlerts } = parts;
  return {
    site,
    line,
    model,
    cameras,
    onPicture,
    onInspected,
    onAlert,
    recentAlerts,
    health: () => ({
      alive: parts.running(),
      mqttConnected: parts.mqttConnected(),
      outboxDepth: parts.outboxDepth(),
      provider: model().provider,
    }),
  };
}
