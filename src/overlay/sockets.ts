import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { ClientHub } from './clients.js';
import { CloseCodes, MAX_CLIENT_MESSAGE, parseClientMessage } from './protocol.js';

export interface SocketDeps {
  hub: ClientHub;
  maxClients: number;
  authorized: (req: IncomingMessage, url: URL) => boolean;
  /** Called once a page is admitted: send it hello and the recent alerts. */
  welcome: (ws: WebSocket) => void;
  log: Logger;
}

/** Refuses an upgrade before the WebSocket handshake, with a plain HTTP answer. */
function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/**
 * Page connections on `/ws`. The token is checked before the handshake (a
 * refused page sees an HTTP 401, never a socket); beyond `maxClients` the
 * socket opens and is closed at once with 1013 so the page can say why.
 */
export function attachSockets(server: Server, deps: SocketDeps): WebSocketServer {
  // No compression: previews are JPEG already, and deflate would copy every frame per client.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE, perMessageDeflate: false, clientTracking: false });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => deps.log.debug({ err: err.message }, 'overlay upgrade socket error'));
    const url = new URL(req.url ?? '/', 'http://overlay.invalid');
    if (url.pathname !== '/ws') return refuse(socket, 404, 'Not Found');
    if (!deps.authorized(req, url)) return refuse(socket, 401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => admit(ws, req, deps));
  });
  return wss;
}

function admit(ws: WebSocket, req: IncomingMessage, deps: SocketDeps): void {
  const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
  ws.on('error', (err: Error & { code?: string }) => {
    // ws closes the connection itself (1009 for oversized, 1002 for protocol errors); just note it.
    deps.log.debug({ remote, code: err.code, err: err.message }, 'overlay client connection error');
  });
  if (deps.hub.size >= deps.maxClients) {
    deps.log.warn({ remote, max: deps.maxClients }, 'overlay client refused: max_clients reached');
    ws.close(CloseCodes.tryAgainLater, `too many clients (max ${deps.maxClients})`);
    return;
  }
  deps.hub.add(ws, remote);
  ws.on('message', (data: RawData, isBinary: boolean) => onClientMessage(ws, data, isBinary, deps));
  deps.welcome(ws);
}

function onClientMessage(ws: WebSocket, data: RawData, isBinary: boolean, deps: SocketDeps): void {
  if (isBinary) {
    ws.close(CloseCodes.unsupported, 'binary messages are not accepted');
    return;
  }
  // binaryType is the default 'nodebuffer': one Buffer per message, UTF-8 already validated by ws.
  const text = (data as Buffer).toString('utf8');
  const msg = parseClientMessage(text);
  if (!msg) {
    ws.close(CloseCodes.malformed, 'expected {"v":1,"type":"ping"}');
    return;
  }
  deps.hub.sendTo(ws, { v: 1, type: 'pong', id: msg.id, ts: Date.now() });
}
