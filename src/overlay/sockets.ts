import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { ClientHub } from './clients.js';
import { rawAnswer } from './headers.js';
import type { OriginRefusal } from './origin.js';
import { CLIENT_MESSAGE_BURST, CLIENT_MESSAGE_RATE, CloseCodes, MAX_CLIENT_MESSAGE, parseClientMessage } from './protocol.js';
import { RateLimiter } from './rate-limiter.js';
import type { Clock } from '../clock.js';

/** How long a connection closed for misbehaving may take to answer the close before it is cut. */
const CLOSE_GRACE_MS = 1000;

export interface SocketDeps {
  hub: ClientHub;
  maxClients: number;
  authorized: (req: IncomingMessage, url: URL) => boolean;
  /** null to admit the upgrade's Origin, else what was refused (see originChecker). */
  originRefusal: (req: IncomingMessage) => OriginRefusal | null;
  /** Told about each refused Origin; rate-limits its own logging. */
  onOriginRefused: (refusal: OriginRefusal, remote: string) => void;
  /** Called once a page is admitted: send it hello and the recent alerts. */
  welcome: (ws: WebSocket) => void;
  log: Logger;
  clock: Clock;
}

/** Refuses an upgrade before the WebSocket handshake, with a plain HTTP answer. */
function refuse(socket: Duplex, status: number, reason: string, extra?: Record<string, string>): void {
  socket.end(rawAnswer(status, reason, extra));
}

const remoteOf = (req: IncomingMessage) => `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;

/**
 * Page connections on `/ws`. The Origin (with a token set) and the token are
 * checked before the handshake (a refused page sees an HTTP 403 or 401, never a
 * socket); beyond `maxClients` the socket opens and is closed at once with 1013
 * so the page can say why.
 */
export function attachSockets(server: Server, deps: SocketDeps): WebSocketServer {
  // No compression: previews are JPEG already, and deflate would copy every frame per client.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE, perMessageDeflate: false, clientTracking: false });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => deps.log.debug({ err: err.message }, 'overlay upgrade socket error'));
    const url = new URL(req.url ?? '/', 'http://overlay.invalid');
    if (url.pathname !== '/ws') return refuse(socket, 404, 'Not Found');
    // The Origin before the token: a cross-site page learns nothing, not even whether a token it guessed is right.
    const refusal = deps.originRefusal(req);
    if (refusal) {
      deps.onOriginRefused(refusal, remoteOf(req));
      return refuse(socket, 403, 'Forbidden');
    }
    if (!deps.authorized(req, url)) return refuse(socket, 401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer realm="linesight overlay"' });
    wss.handleUpgrade(req, socket, head, (ws) => admit(ws, req, deps));
  });
  return wss;
}

/**
 * Closes with `code`; a peer that does not answer the close frame (a flooding
 * script rarely reads) is cut after a grace period instead of ws's 30 s.
 */
function closeFirmly(ws: WebSocket, code: number, reason: string, clock: Clock): void {
  ws.close(code, reason);
  clock.setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
}

function admit(ws: WebSocket, req: IncomingMessage, deps: SocketDeps): void {
  const remote = remoteOf(req);
  ws.on('error', (err: Error & { code?: string }) => {
    // ws closes the connection itself (1009 for oversized, 1002 for protocol errors); just note it.
    deps.log.debug({ remote, code: err.code, err: err.message }, 'overlay client connection error');
  });
  if (deps.hub.size >= deps.maxClients) {
    deps.log.warn({ remote, max: deps.maxClients }, 'overlay client refused: max_clients reached');
    closeFirmly(ws, CloseCodes.tryAgainLater, `too many clients (max ${deps.maxClients})`, deps.clock);
    return;
  }
  deps.hub.add(ws, remote);
  const limiter = new RateLimiter(CLIENT_MESSAGE_RATE, CLIENT_MESSAGE_BURST);
  ws.on('message', (data: RawData, isBinary: boolean) => {
    // ws may still hand over messages that were read before the close: they get no answer.
    if (ws.readyState !== ws.OPEN) return;
    if (!limiter.take(deps.clock.monotonic())) {
      deps.log.warn({ remote, limit: CLIENT_MESSAGE_RATE }, 'overlay client sends too many messages; disconnecting it');
      closeFirmly(ws, CloseCodes.policy, `expected at most ${CLIENT_MESSAGE_RATE} messages a second (bursts of ${CLIENT_MESSAGE_BURST}) but received more`, deps.clock);
      return;
    }
    onClientMessage(ws, data, isBinary, deps);
  });
  deps.welcome(ws);
}

function onClientMessage(ws: WebSocket, data: RawData, isBinary: boolean, deps: SocketDeps): void {
  if (isBinary) {
    closeFirmly(ws, CloseCodes.unsupported, 'expected text messages but received a binary one', deps.clock);
    return;
  }
  // binaryType is the default 'nodebuffer': one Buffer per message, UTF-8 already validated by ws.
  const text = (data as Buffer).toString('utf8');
  const msg = parseClientMessage(text);
  if (!msg) {
    closeFirmly(ws, CloseCodes.malformed, `expected {"v":1,"type":"ping"} but received ${describe(text)}`, deps.clock);
    return;
  }
  deps.hub.sendTo(ws, { v: 1, type: 'pong', id: msg.id, ts: deps.clock.now() });
}

/** What a refused message looked like, short and ASCII so it fits a close reason (at most 123 bytes, RFC 6455 §5.5). */
function describe(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `${text.length} characters that are not JSON`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `JSON ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`;
  const o = value as Record<string, unknown>;
  const shown = (x: unknown) => (typeof x === 'number' || typeof x === 'string' ? JSON.stringify(x).slice(0, 18).replace(/[^\x20-\x7e]/g, '?') : typeof x);
  return `v ${shown(o.v)}, type ${shown(o.type)}`;
}
