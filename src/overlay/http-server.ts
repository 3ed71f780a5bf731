import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { rawAnswer } from './headers.js';

/** Bounds on the overlay's HTTP connections, before any of them is a page. */
export interface HttpLimits {
  /** Most open TCP connections (pages, page loads, scrapes, refused sockets); past it Node closes new ones at once. */
  maxConnections: number;
  /** A request's headers must arrive within this, ms (slowloris). */
  headersTimeoutMs: number;
  /** A whole request must arrive within this, ms. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this, ms. */
  keepAliveTimeoutMs: number;
}

/**
 * Room beside the pages themselves: page loads and their assets, API calls,
 * metrics scrapes and sockets being refused. A browser opens about six
 * connections per page load, so 64 lets a handful of operators reload at once.
 */
export const SPARE_CONNECTIONS = 64;

/**
 * The defaults. Every request the overlay answers is a GET with no body, so ten
 * seconds for the headers and twenty for the whole request are generous on a
 * plant network, and far below Node's 60 s / 300 s that let a few hundred
 * half-open connections sit for minutes.
 */
export function defaultHttpLimits(maxClients: number): HttpLimits {
  return { maxConnections: maxClients + SPARE_CONNECTIONS, headersTimeoutMs: 10_000, requestTimeoutMs: 20_000, keepAliveTimeoutMs: 5_000 };
}

/**
 * A bounded HTTP server. Node's own answers to requests it cannot parse or that
 * time out (400, 408, 431) are replaced by the same answer with the overlay's
 * security headers.
 */
export function createBoundedServer(handler: (req: IncomingMessage, res: ServerResponse) => void, limits: HttpLimits, log: Logger): Server {
  const server = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node looks for requests past those timeouts (default 30 s, which would triple the headers timeout).
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  }, handler);
  server.maxConnections = limits.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(err, socket, log));
  server.on('drop', (data?: { remoteAddress?: string }) => log.debug({ remote: data?.remoteAddress, max: limits.maxConnections }, 'overlay connection dropped: maxConnections reached'));
  return server;
}

function onClientError(err: NodeJS.ErrnoException, socket: Duplex, log: Logger): void {
  log.debug({ code: err.code, err: err.message }, 'overlay received an unusable request');
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
  socket.end(rawAnswer(status, reason));
}
