import type { OverlaySource } from './source.js';

/** The parts of a running line the operator page reads; `src/app.ts` hands them over. Health is asked of the line when read. */
export type LineParts = Omit<OverlaySource, 'health' | 'relearnHealth' | 'verdict' | 'missed' | 'withdraw' | 'onVerdict'>
  & Required<Pick<OverlaySource, 'verdict' | 'missed' | 'withdraw' | 'onVerdict'>> & {
  relearnHealth(camera: string): void;
  running(): boolean;
  mqttConnected(): boolean;
  outboxDepth(): number;
};

/**
 * The overlay's view of the line: read-only, and nothing a stage could be
 * reached through. Health is read when asked (for /healthz and /metrics), never
 * cached, so a dead broker shows at once.
 */
export function lineView(parts: LineParts): OverlaySource {
  const { site, line, model, cameras, onPicture, onInspected, onAlert, recentAlerts, relearnHealth, verdict, missed, withdraw, onVerdict } = parts;
  return {
    site,
    line,
    model,
    cameras,
    onPicture,
    onInspected,
    onAlert,
    recentAlerts,
    relearnHealth,
    verdict,
    missed,
    withdraw,
    onVerdict,
    ...(parts.freeze ? { freeze: parts.freeze } : {}),
    ...(parts.recentMissed ? { recentMissed: parts.recentMissed } : {}),
    ...(parts.models ? { models: parts.models } : {}),
    health: () => ({
      alive: parts.running(),
      mqttConnected: parts.mqttConnected(),
      outboxDepth: parts.outboxDepth(),
      provider: model().provider,
    }),
  };
}
