/**
 * Real TCP tools for fault tests: a proxy that can stall a connection without
 * closing it, drop every connection soon after it opens (flapping) or deliver
 * one direction's bytes seconds late, and servers that speak garbage or nothing at all.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

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
  /**
   * A flapping link: from now on every connection (open or new) is dropped `afterMs` after it
   * was accepted (or after this call, for those already open). `how` picks RST (a cut cable, a
   * broker killed), FIN (a broker or load balancer closing politely) or alternates between them.
   * `flap(undefined)` makes the link steady again; connections already open are left alone.
   */
  flap(options: FlapOptions | undefined): void;
  /**
   * Holds every chunk going in `direction` for `ms` before passing it on, in order (a chunk never
   * overtakes an earlier one, even after the delay is lowered): a slow broker, or a congested
   * uplink. `toClient` delays what the target says (CONNACK, PUBACK, PINGRESP). `0` ends it.
   */
  delay(ms: number, direction?: Direction): void;
  /** Bytes forwarded so far, connections currently open, accepted in total and dropped by `flap`. */
  stats(): { toTarget: number; toClient: number; connections: number; accepted: number; drops: number };
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

export type Direction = 'toTarget' | 'toClient';

export interface FlapOptions {
  /** How long each connection lives, ms. */
  afterMs: number;
  /** Default `alternate`: odd drops RST, even drops FIN. */
  how?: 'rst' | 'fin' | 'alternate';
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

/** One direction of a proxied connection: reads `from`, writes `to`, with an optional in-order delay. */
class Lane {
  private readonly held: Array<{ at: number; chunk: Buffer }> = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly settings: { paused: boolean; delayMs: Record<Direction, number> },
    private readonly direction: Direction,
    private readonly forwarded: (bytes: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => this.take(chunk));
    // Backpressure: stop reading `from` while `to` is full; `drain` resumes unless the proxy is paused.
    to.on('drain', () => {
      if (!settings.paused) from.resume();
    });
  }

  private take(chunk: Buffer): void {
    const delay = this.settings.delayMs[this.direction];
    if (delay === 0 && this.held.length === 0) {
      this.write(chunk);
      return;
    }
    this.held.push({ at: performance.now() + delay, chunk });
    if (this.held.length === 1) this.arm();
  }

  /** One timer for the head of the queue, so chunks leave in the order they came. */
  private arm(): void {
    const head = this.held[0];
    if (!head) return;
    this.timer = setTimeout(() => this.release(), Math.max(0, head.at - performance.now()));
  }

  private release(): void {
    while (this.held.length > 0 && this.held[0].at <= performance.now() && !this.to.destroyed) {
      this.write((this.held.shift() as { chunk: Buffer }).chunk);
    }
    this.arm();
  }

  private write(chunk: Buffer): void {
    this.forwarded(chunk.length);
    if (!this.to.write(chunk)) this.from.pause();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.held.length = 0;
  }
}

/**
 * Starts a TCP proxy on a free port in front of `127.0.0.1:targetPort`.
 *
 * @example
 * const proxy = await startTcpProxy(camera.port);
 * // point the ingest at `rtsp://127.0.0.1:${proxy.port}/cam`, then:
 * proxy.pause();   // the stream stalls, the TCP connection stays up
 * proxy.resume();
 * proxy.flap({ afterMs: 1000 }); // every connection dropped a second after it opens
 * proxy.delay(2500);             // the target's answers arrive 2.5 s late
 * await proxy.close();
 */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const settings = { paused: false, delayMs: { toTarget: 0, toClient: 0 } };
  const counts = { toTarget: 0, toClient: 0, accepted: 0, drops: 0 };
  let flapping: FlapOptions | undefined;
  const pairs = new Map<[Socket, Socket], { lanes: Lane[]; dropTimer?: NodeJS.Timeout }>();
  const sockets = (): Socket[] => [...pairs.keys()].flat();

  const drop = (pair: [Socket, Socket]): void => {
    counts.drops += 1;
    const how = flapping?.how ?? 'alternate';
    const rst = how === 'rst' || (how === 'alternate' && counts.drops % 2 === 1);
    for (const socket of pair) {
      if (rst) socket.resetAndDestroy();
      else socket.end();
    }
  };
  const armDrop = (pair: [Socket, Socket]): void => {
    const state = pairs.get(pair);
    if (!state || !flapping) return;
    clearTimeout(state.dropTimer);
    state.dropTimer = setTimeout(() => drop(pair), flapping.afterMs);
  };

  const server = createServer((client) => {
    counts.accepted += 1;
    const target = createConnection({ port: targetPort, host: targetHost });
    const pair: [Socket, Socket] = [client, target];
    if (settings.paused) {
      client.pause();
      target.pause();
    }
    const lanes = [
      new Lane(client, target, settings, 'toTarget', (n) => (counts.toTarget += n)),
      new Lane(target, client, settings, 'toClient', (n) => (counts.toClient += n)),
    ];
    pairs.set(pair, { lanes });
    armDrop(pair);
    const teardown = (): void => {
      const state = pairs.get(pair);
      if (!state) return;
      pairs.delete(pair);
      clearTimeout(state.dropTimer);
      for (const lane of state.lanes) lane.dispose();
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
      settings.paused = true;
      for (const socket of sockets()) socket.pause();
    },
    resume() {
      settings.paused = false;
      // A side whose peer is still full stays paused until that peer drains.
      for (const [client, target] of pairs.keys()) {
        if (!target.writableNeedDrain) client.resume();
        if (!client.writableNeedDrain) target.resume();
      }
    },
    cut() {
      for (const socket of sockets()) socket.resetAndDestroy();
    },
    flap(options) {
      flapping = options;
      for (const [pair, state] of pairs) {
        clearTimeout(state.dropTimer);
        armDrop(pair);
      }
    },
    delay(ms, direction = 'toClient') {
      settings.delayMs[direction] = ms;
    },
    stats: () => ({ toTarget: counts.toTarget, toClient: counts.toClient, connections: pairs.size, accepted: counts.accepted, drops: counts.drops }),
    close: () => {
      for (const state of pairs.values()) clearTimeout(state.dropTimer);
      return closeServer(server, sockets());
    },
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
