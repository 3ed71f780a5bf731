import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import { CloseCodes, type ServerMessage } from './protocol.js';
import { systemClock, type Clock, type Timer } from '../clock.js';

export interface HubOptions {
  /** Above this many buffered bytes a client gets no previews, detections or status until it drains. */
  skipAbove: number;
  /** Above this many buffered bytes even alerts cannot be queued: the client is disconnected. */
  dropAbove: number;
  /** Interval of ping/pong liveness checks, ms; a client that misses one pong is terminated. */
  heartbeatMs: number;
  /** Time for the heartbeat. Default: the system's. */
  clock?: Clock;
}

/** What the server knows about one page connection. */
export interface ClientStats {
  id: number;
  remote: string;
  bufferedAmount: number;
  previewsSent: number;
  /** Previews not sent to this client because it was behind (bufferedAmount over the limit). */
  previewsSkipped: number;
  /** Detections and status messages skipped for the same reason. */
  messagesSkipped: number;
}

interface Client {
  ws: WebSocket;
  stats: ClientStats;
  alive: boolean;
}

/**
 * The connected pages. Broadcasts share one serialized message between all
 * clients; each client's own `bufferedAmount` decides whether it gets the
 * droppable ones (previews, detections, status), so one slow page never holds
 * back the others and never grows the server's memory past `dropAbove`.
 */
export class ClientHub {
  private readonly clients = new Set<Client>();
  private nextId = 1;
  private readonly heartbeat: Timer;
  private readonly clock: Clock;
  /** Totals for /metrics, including clients that have left. */
  readonly totals = { previewsSent: 0, previewsSkipped: 0, messagesSkipped: 0, slowDisconnects: 0, deadDisconnects: 0 };

  constructor(private readonly opts: HubOptions, private readonly log: Logger) {
    this.clock = opts.clock ?? systemClock;
    this.heartbeat = this.clock.setInterval(() => this.checkAlive(), opts.heartbeatMs);
  }

  get size(): number {
    return this.clients.size;
  }

  stats(): ClientStats[] {
    return [...this.clients].map((c) => ({ ...c.stats, bufferedAmount: c.ws.bufferedAmount }));
  }

  add(ws: WebSocket, remote: string): void {
    const client: Client = {
      ws,
      alive: true,
      stats: { id: this.nextId++, remote, bufferedAmount: 0, previewsSent: 0, previewsSkipped: 0, messagesSkipped: 0 },
    };
    this.clients.add(client);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('close', () => this.clients.delete(client));
  }

  /** Sends to one socket, must-deliver. */
  sendTo(ws: WebSocket, msg: ServerMessage): void {
    for (const c of this.clients) if (c.ws === ws) this.deliver(c, Buffer.from(JSON.stringify(msg)), false);
  }

  /** A preview to every client that keeps up; the same Buffer for all. */
  broadcastPreview(message: Buffer): void {
    for (const c of this.clients) {
      if (c.ws.bufferedAmount > this.opts.skipAbove) {
        c.stats.previewsSkipped++;
        this.totals.previewsSkipped++;
        continue;
      }
      if (this.deliver(c, message, true)) {
        c.stats.previewsSent++;
        this.totals.previewsSent++;
      }
    }
  }

  /** A JSON message to every client; `droppable` ones are skipped for clients that are behind. */
  broadcast(msg: ServerMessage, droppable: boolean): void {
    if (this.clients.size === 0) return;
    // Serialized once; ws frames the same bytes for every client (no per-client copy without masking).
    const text = Buffer.from(JSON.stringify(msg));
    for (const c of this.clients) {
      if (droppable && c.ws.bufferedAmount > this.opts.skipAbove) {
        c.stats.messagesSkipped++;
        this.totals.messagesSkipped++;
        continue;
      }
      this.deliver(c, text, false);
    }
  }

  closeAll(code: number, reason: string): void {
    this.clock.clearInterval(this.heartbeat);
    for (const c of this.clients) c.ws.close(code, reason);
  }

  /** Terminates whatever did not close within the grace period. */
  terminateAll(): void {
    for (const c of this.clients) c.ws.terminate();
    this.clients.clear();
  }

  private deliver(c: Client, data: Buffer, binary: boolean): boolean {
    if (c.ws.readyState !== c.ws.OPEN) return false;
    if (c.ws.bufferedAmount > this.opts.dropAbove) {
      // Even must-deliver messages would now pile up in memory: the page is not reading.
      this.totals.slowDisconnects++;
      this.log.warn({ client: c.stats.id, remote: c.stats.remote, buffered: c.ws.bufferedAmount }, 'overlay client is not reading; disconnecting it (the page reconnects by itself)');
      c.ws.close(CloseCodes.tooSlow, 'client too slow');
      this.clients.delete(c);
      // close() waits for the buffered data to drain; a page that does not read would never get there.
      this.clock.setTimeout(() => c.ws.terminate(), 1000);
      return false;
    }
    c.ws.send(data, { binary });
    return true;
  }

  private checkAlive(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        this.totals.deadDisconnects++;
        this.log.info({ client: c.stats.id, remote: c.stats.remote }, 'overlay client missed a heartbeat; dropping it');
        c.ws.terminate();
        this.clients.delete(c);
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }
}
