import type { HealthReason, HealthSnapshot, HealthStateName } from '../health/types.js';
import type { CameraSnapshot, CameraState } from '../types.js';
import { isoTime } from './payload.js';

export type PublishedState = 'online' | 'reconnecting' | 'offline';

/** Retained on `{prefix}/{site}/{line}/{camera}/status`. */
export interface CameraStatusPayload {
  state: PublishedState;
  ts: string;
  fps: number;
  frames_received: number;
  frames_inspected: number;
  frames_dropped: Record<string, number>;
  restarts: number;
  provider: string;
  last_error: { code: string; message: string; ts: string } | null;
  outbox_depth: number;
  /** The camera's health: whether it really shows the line; null when the line does not watch it. */
  health: CameraHealthStatus | null;
  /** Of `frames_inspected`, those inspected while the camera was degraded. */
  frames_inspected_degraded: number;
  /** Seconds the camera has been degraded since linesight started. */
  seconds_degraded: number;
}

/** `since`: when the state began (ISO 8601). `learning`: the baseline is being learned, so `blurred` and `moved` are not judged yet. */
export interface CameraHealthStatus {
  state: HealthStateName;
  reasons: HealthReason[];
  since: string;
  learning: boolean;
}

/** Retained on `{prefix}/{site}/{line}/status`; the last will carries `{state: "offline"}`. */
export interface NodeStatusPayload {
  state: 'online' | 'offline';
  ts: string;
  version: string;
  cameras: string[];
  /** `dropped` counts alerts lost to the outbox bound under either policy. */
  outbox: { depth: number; dropped: number };
  /** The database: present when the publisher knows the store's health. */
  store?: StoreStatus;
}

/**
 * `state`: ok | full | failing. `free_mb`: free space of the database's
 * filesystem (null when unknown). `unstored`: alerts published without their
 * commit since start; `unstored_dropped`: of those, the ones the in-memory
 * queue had to drop before the broker took them.
 */
export interface StoreStatus {
  state: 'ok' | 'full' | 'failing';
  free_mb: number | null;
  unstored: number;
  unstored_dropped: number;
}

const STATES: Record<CameraState, PublishedState> = {
  online: 'online',
  connecting: 'reconnecting',
  reconnecting: 'reconnecting',
  stopped: 'offline',
};

export function cameraStatusPayload(
  snapshot: CameraSnapshot,
  extra: { provider: string; outboxDepth: number; state?: PublishedState },
  now: number,
): CameraStatusPayload {
  const err = snapshot.lastError;
  return {
    state: extra.state ?? STATES[snapshot.state],
    ts: isoTime(now),
    fps: Math.round(snapshot.fps * 100) / 100,
    frames_received: snapshot.framesReceived,
    frames_inspected: snapshot.framesInspected,
    frames_dropped: { ...snapshot.framesDropped },
    restarts: snapshot.restarts,
    provider: extra.provider,
    last_error: err ? { code: err.code, message: err.message, ts: isoTime(err.at) } : null,
    outbox_depth: extra.outboxDepth,
    health: snapshot.health ? healthStatus(snapshot.health) : null,
    frames_inspected_degraded: snapshot.framesInspectedDegraded ?? 0,
    seconds_degraded: Math.round((snapshot.secondsDegraded ?? 0) * 10) / 10,
  };
}

export function healthStatus(h: HealthSnapshot): CameraHealthStatus {
  return { state: h.state, reasons: [...h.reasons], since: isoTime(h.since), learning: h.learning };
}

export function nodeStatusPayload(
  info: { version: string; cameras: readonly string[]; depth: number; dropped: number; state?: 'online' | 'offline'; store?: StoreStatus },
  now: number,
): NodeStatusPayload {
  return {
    state: info.state ?? 'online',
    ts: isoTime(now),
    version: info.version,
    cameras: [...info.cameras],
    outbox: { depth: info.depth, dropped: info.dropped },
    ...(info.store ? { store: { ...info.store } } : {}),
  };
}

/** The last will: fixed at connect time, so it carries no timestamp. */
export const OFFLINE_WILL = JSON.stringify({ state: 'offline' });
