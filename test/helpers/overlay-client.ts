import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';
import { decodePreview, type PreviewHeader, type ServerMessage } from '../../src/overlay/protocol.js';

export interface Received {
  ws: WebSocket;
  texts: ServerMessage[];
  previews: Array<PreviewHeader & { jpegBytes: number; at: number }>;
  /** Resolves with the close code and reason when the connection ends. */
  closed: Promise<{ code: number; reason: string }>;
  of<T extends ServerMessage['type']>(type: T): Array<Extract<ServerMessage, { type: T }>>;
}

/** A real ws client recording everything the overlay sends. Rejects when the handshake is refused. */
export function connectPage(base: string, opts: { token?: string; header?: boolean; origin?: string } = {}): Promise<Received> {
  const url = new URL('/ws', base.replace(/^http/, 'ws'));
  if (opts.token && !opts.header) url.searchParams.set('token', opts.token);
  const headers: Record<string, string> = opts.token && opts.header ? { Authorization: `Bearer ${opts.token}` } : {};
  if (opts.origin !== undefined) headers.Origin = opts.origin;
  const ws = new WebSocket(url, { headers });
  const r: Received = {
    ws,
    texts: [],
    previews: [],
    closed: new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    of: (type) => r.texts.filter((m) => m.type === type) as never,
  };
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      const p = decodePreview(data as Buffer);
      r.previews.push({ camera: p.camera, captureTs: p.captureTs, seq: p.seq, width: p.width, height: p.height, jpegBytes: p.jpeg.length, at: Date.now() });
    } else {
      r.texts.push(JSON.parse(String(data)) as ServerMessage);
    }
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(r));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`handshake refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

/** A GET with the path sent byte for byte (fetch would normalise `/../`). */
export function rawGet(base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `bytes` on a plain TCP connection and resolves with everything the server sent once it closes the connection. */
export function rawExchange(base: string, bytes: string): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('connect', () => socket.write(bytes));
    socket.once('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
  });
}

/** A WebSocket upgrade request sent by hand: the HTTP answer of a refused handshake, headers included. */
export function upgradeRequest(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: u.port, path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}
