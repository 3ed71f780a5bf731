import type { HealthReason, HealthStateName } from '../health/types.js';
import type { CameraState, DefectEvent, Detection, DropReason } from '../types.js';
import type { AlertVerdictSummary, AlertView, TrackView, VerdictView } from './source.js';

/*
 * The overlay wire protocol, version 1. The page (web/protocol.js) decodes the
 * same layout; change both together and bump PROTOCOL_VERSION.
 *
 * Binary messages (server → page), big-endian:
 *
 *   offset  size  field
 *   0       1     type: 1 = preview JPEG
 *   1       1     L: byte length of the camera id (UTF-8, 1..255)
 *   2       L     camera id
 *   2+L     8     capture time, float64 ms since epoch (exact for integers below 2^53)
 *   10+L    4     frame seq, uint32 (wraps)
 *   14+L    2     source frame width, uint16
 *   16+L    2     source frame height, uint16
 *   18+L    …     JPEG bytes (the preview; its own size is in the JPEG header)
 *
 * Text messages are JSON objects `{ v: 1, type, … }`, see ServerMessage. The
 * page sends only `{ v: 1, type: 'ping', id? }` (answered by `pong`); anything
 * else (binary, unparsable, unknown type, over MAX_CLIENT_MESSAGE bytes, more than
 * CLIENT_MESSAGE_RATE a second sustained) closes that connection.
 */

export const PROTOCOL_VERSION = 1;
export const BINARY_PREVIEW = 1;
/** Largest message a page may send; ws closes the connection with 1009 above it. */
export const MAX_CLIENT_MESSAGE = 4096;

/**
 * Messages a page may send per second on average, and in one burst. The page
 * itself sends only an occasional ping; a connection past this is a script
 * flooding the server's event loop and is closed with 1008.
 */
export const CLIENT_MESSAGE_RATE = 20;
export const CLIENT_MESSAGE_BURST = 40;

/** WebSocket close codes the overlay uses (RFC 6455 §7.4.1; 4000–4999 are private). */
export const CloseCodes = {
  /** The server is shutting down. */
  goingAway: 1001,
  /** A text message that is not valid protocol JSON. */
  malformed: 1007,
  /** Binary or otherwise unsupported client data. */
  unsupported: 1003,
  /** The client broke a limit of the overlay (RFC 6455 §7.4.1, policy violation): more than CLIENT_MESSAGE_RATE messages a second. */
  policy: 1008,
  /** max_clients reached: try again later (RFC 6455 registry, 1013). */
  tryAgainLater: 1013,
  /** The client fell so far behind that even must-deliver messages could not be buffered. */
  tooSlow: 4008,
} as const;

/** A camera's health as the page shows it: `since` in ms since epoch; null when the line does not watch the camera. */
export interface CameraHealthView {
  state: HealthStateName;
  reasons: HealthReason[];
  since: number;
  learning: boolean;
}

/** One camera as the hello lists it. */
export interface HelloCamera {
  id: string;
  state: CameraState;
  width?: number;
  height?: number;
  health: CameraHealthView | null;
}

export interface HelloMessage {
  v: 1;
  type: 'hello';
  site: string;
  line: string;
  /** Server wall clock (ms) when sent: the page derives its clock offset from it. */
  ts: number;
  model: { name: string; version: string; provider: string; classes: string[] };
  preview: { width: number; fps: number };
  cameras: HelloCamera[];
  /** `open`: anyone may judge alerts; `token`: the page must send the operator token (Authorization: Bearer). */
  operatorActions: 'open' | 'token';
}

export interface CameraStatus {
  id: string;
  state: CameraState;
  fps: number;
  /** ms since the last frame arrived (server clock), null before the first frame. */
  frameAgeMs: number | null;
  lastFrameTs: number | null;
  framesReceived: number;
  framesInspected: number;
  framesDropped: Record<DropReason, number>;
  /** framesInspected ÷ framesReceived, null before the first frame. */
  coverage: number | null;
  provider: string;
  restarts: number;
  width?: number;
  height?: number;
  lastError: { code: string; message: string; at: number } | null;
  /** Whether the camera really shows the line; a degraded camera's inspections prove nothing. */
  health: CameraHealthView | null;
  framesInspectedDegraded: number;
  secondsDegraded: number;
}

export interface StatusMessage {
  v: 1;
  type: 'status';
  ts: number;
  alive: boolean;
  mqttConnected: boolean | null;
  outboxDepth: number | null;
  clients: number;
  cameras: CameraStatus[];
}

export interface DetectionsMessage {
  v: 1;
  type: 'detections';
  camera: string;
  seq: number;
  /** Capture time of the inspected frame (ms). */
  ts: number;
  inferredAt: number;
  /** The boxes are in these source-frame pixels. */
  frame: { width: number; height: number };
  detections: Detection[];
  tracks: TrackView[];
}

/** An alert as sent to the page: the event as the line records it, its seq once stored, and an optional thumbnail. */
export type AlertPayload = DefectEvent & {
  seq: number | null;
  /** Base64 JPEG of the box (+ margin), at most THUMBNAIL_SIZE px; null for alerts read back from SQLite. */
  thumbnail: string | null;
  /** The alert's latest operator verdict; absent while it has none. */
  verdict?: AlertVerdictSummary;
};

/** A verdict was stored (any page's, or the API's). */
export interface VerdictMessage {
  v: 1;
  type: 'verdict';
  verdict: VerdictView;
}

export interface AlertMessage {
  v: 1;
  type: 'alert';
  alert: AlertPayload;
}

export interface AlertsMessage {
  v: 1;
  type: 'alerts';
  /** Newest first. */
  alerts: AlertPayload[];
}

/** On connect: the recent missed defects and their withdrawals, oldest first, as the verdict messages that stored them. */
export interface MissedListMessage {
  v: 1;
  type: 'missed';
  missed: VerdictView[];
}

export interface PongMessage {
  v: 1;
  type: 'pong';
  id?: string | number;
  ts: number;
}

export type ServerMessage = HelloMessage | StatusMessage | DetectionsMessage | AlertMessage | AlertsMessage | VerdictMessage | MissedListMessage | PongMessage;

export function toAlertPayload(alert: AlertView, thumbnail: string | null = null): AlertPayload {
  return {
    id: alert.id,
    seq: alert.seq ?? null,
    camera: alert.camera,
    trackId: alert.trackId,
    classId: alert.classId,
    className: alert.className,
    confidence: alert.confidence,
    box: alert.box,
    frame: alert.frame,
    ts: alert.ts,
    confirmedAt: alert.confirmedAt,
    thumbnail,
    ...(alert.verdict ? { verdict: { verdict: alert.verdict.verdict, operator: alert.verdict.operator, ts: alert.verdict.ts } } : {}),
  };
}

export interface PreviewHeader {
  camera: string;
  captureTs: number;
  seq: number;
  width: number;
  height: number;
}

/** Frames one preview JPEG as a binary message (layout above). */
export function encodePreview(header: PreviewHeader, jpeg: Buffer): Buffer {
  const id = Buffer.from(header.camera, 'utf8');
  if (id.length < 1 || id.length > 255) {
    throw new RangeError(`Expected a camera id of 1–255 UTF-8 bytes but received ${id.length} bytes`);
  }
  const head = Buffer.allocUnsafe(18 + id.length);
  head.writeUInt8(BINARY_PREVIEW, 0);
  head.writeUInt8(id.length, 1);
  id.copy(head, 2);
  let o = 2 + id.length;
  head.writeDoubleBE(header.captureTs, o);
  head.writeUInt32BE(header.seq >>> 0, o + 8);
  head.writeUInt16BE(Math.min(header.width, 0xffff), o + 12);
  head.writeUInt16BE(Math.min(header.height, 0xffff), o + 14);
  o += 16;
  return Buffer.concat([head, jpeg], o + jpeg.length);
}

/** The inverse of encodePreview (tests, and the reference for web/protocol.js). */
export function decodePreview(msg: Buffer): PreviewHeader & { jpeg: Buffer } {
  if (msg.length < 18 || msg.readUInt8(0) !== BINARY_PREVIEW) {
    throw new RangeError(`Expected a preview message (type ${BINARY_PREVIEW}, ≥ 18 bytes) but received type ${msg[0]} of ${msg.length} bytes`);
  }
  const n = msg.readUInt8(1);
  const camera = msg.subarray(2, 2 + n).toString('utf8');
  const o = 2 + n;
  return {
    camera,
    captureTs: msg.readDoubleBE(o),
    seq: msg.readUInt32BE(o + 8),
    width: msg.readUInt16BE(o + 12),
    height: msg.readUInt16BE(o + 14),
    jpeg: msg.subarray(o + 16),
  };
}

export type ClientMessage = { v: 1; type: 'ping'; id?: string | number };

/** Parses a page's text message; null when it is not a valid v1 client message. */
export function parseClientMessage(text: string): ClientMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null; // the caller closes the connection with 1007: the error is the answer
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const msg = value as Record<string, unknown>;
  if (msg.v !== PROTOCOL_VERSION || msg.type !== 'ping') return null;
  if (msg.id !== undefined && typeof msg.id !== 'string' && typeof msg.id !== 'number') return null;
  return msg.id === undefined ? { v: 1, type: 'ping' } : { v: 1, type: 'ping', id: msg.id as string | number };
}
