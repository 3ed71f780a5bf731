/**
 * Real TCP tools for fault tests: a proxy that can stall a connection without
 * closing it, and servers that speak garbage or nothing at all.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** Listens on 127.0.0.1:port and forwards to 127.0.0.1:targetPort. */
  readonly port: number;
  /**
   * Stops forwarding in both directions while every socket stays open: the proxy stops
   * reading, so bytes pile up in kernel buffers and TCP flow control stalls both peers,
   * as with a frozen camera or a dead switch. New connections made meanwhile stall too.
   */
  pause(): void;
  /** Forwards again, starting with the bytes held back. */
  resume(): void;
  /** Resets every open connection pair (RST to both sides), as with a cut cable; keeps listening. */
  cut(): void;
  /** Bytes forwarded so far and connections currently open. */
  stats(): { toTarget: number; toClient: number; connections: number };
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

export interface GarbageServer {
  readonly port: number;
  /** `rtsp://127.0.0.1:PORT/cam` */
  readonly url: string;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * `random`: answers every connection with 4 KiB of random bytes and closes it (a device that
 * is not an RTSP server). `silent`: accepts, reads, never answers (a wedged device).
 */
export type GarbageKind = 'random' | 'silent';

const GARBAGE_CHUNK = 4096;

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error(`expected a TCP address but received ${String(address)}`));
        return;
      }
      resolve(address.port);
    });
  });
}

function closeServer(server: Server, sockets: Iterable<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close((err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Starts a TCP proxy on a free port in front of `127.0.0.1:targetPort`.
 *
 * @example
 * const proxy = await startTcpProxy(camera.port);
 * // point the ingest at `rtsp://127.0.0.1:${proxy.port}/cam`, then:
 * proxy.pause();   // the stream stalls, the TCP connection stays up
 * proxy.resume();
 * await proxy.close();
 */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let paused = false;
  const counts = { toTarget: 0, toClient: 0 };
  const pairs = new Set<[Socket, Socket]>();
  const sockets = (): Socket[] => [...pairs].flat();

  // Backpressure: stop reading `from` while `to` is full; `drain` resumes unless the proxy is paused.
  const forward = (from: Socket, to: Socket, counter: 'toTarget' | 'toClient'): void => {
    from.on('data', (chunk: Buffer) => {
      counts[counter] += chunk.length;
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!paused) from.resume();
    });
  };

  const server = createServer((client) => {
    const target = createConnection({ port: targetPort, host: targetHost });
    const pair: [Socket, Socket] = [client, target];
    pairs.add(pair);
    if (paused) {
      client.pause();
      target.pause();
    }
    forward(client, target, 'toTarget');
    forward(target, client, 'toClient');
    const teardown = (): void => {
      pairs.delete(pair);
      client.destroy();
      target.destroy();
    };
    // Either side failing or closing ends the pair, as a plain TCP relay would.
    for (const socket of pair) {
      socket.on('error', teardown);
      socket.on('close', teardown);
    }
  });

  const port = await listen(server);
  return {
    port,
    pause() {
      paused = true;
      for (const socket of sockets()) socket.pause();
    },
    resume() {
      paused = false;
      // A side whose peer is still full stays paused until that peer drains.
      for (const [client, target] of pairs) {
        if (!target.writableNeedDrain) client.resume();
        if (!client.writableNeedDrain) target.resume();
      }
    },
    cut() {
      for (const socket of sockets()) socket.resetAndDestroy();
    },
    stats: () => ({ ...counts, connections: pairs.size }),
    close: () => closeServer(server, sockets()),
  };
}

/**
 * Starts a TCP server on a free port that is not an RTSP server: with `random` it
 * answers with random bytes and hangs up, with `silent` it accepts and never says a word.
 */
export async function startGarbageServer(kind: GarbageKind = 'random'): Promise<GarbageServer> {
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted += 1;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    // A client that gives up resets the connection; that is expected here.
    socket.on('error', () => socket.destroy());
    if (kind === 'silent') {
      socket.resume();
      return;
    }
    socket.resume();
    socket.end(randomBytes(GARBAGE_CHUNK));
  });
  const port = await listen(server);
  return {
    port,
    url: `rtsp://127.0.0.1:${port}/cam`,
    connections: () => accepted,
    close: () => closeServer(server, open),
  };
}
