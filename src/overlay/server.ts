import type { Server } from 'node:http';
import { Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import type { OverlayConfig } from '../config/schema.js';
import { errorMessage, LinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import { operatorChecker, tokenChecker } from './auth.js';
import { ClientHub, type ClientStats } from './clients.js';
import { createRequestHandler } from './http-routes.js';
import { createBoundedServer, defaultHttpLimits, type HttpLimits } from './http-server.js';
import { detectionsMessage, helloMessage, statusMessage } from './messages.js';
import { createMetrics } from './metrics.js';
import { originChecker, RefusalLog } from './origin.js';
import { PreviewEncoder } from './preview.js';
import { CloseCodes, toAlertPayload, type AlertPayload } from './protocol.js';
import { attachSockets } from './sockets.js';
import type { Picture } from '../types.js';
import type { AlertView, OverlaySource, VerdictView } from './source.js';
import { loadStaticFiles } from './static-files.js';
import { alertThumbnail } from './thumbnail.js';
import { systemClock, type Clock } from '../clock.js';

/** Alerts a page receives when it (re)connects. */
export const RECENT_ALERTS = 100;

export interface OverlayOptions {
  /** Register the metrics here (e.g. the app's registry) instead of a private one. */
  metricsRegistry?: Registry;
  /** Per-client bytes buffered above which droppable messages are skipped (default 2 MiB). */
  skipAbove?: number;
  /** Per-client bytes buffered above which the client is disconnected (default 8 MiB). */
  dropAbove?: number;
  /** Ping interval, ms (default 15 s). */
  heartbeatMs?: number;
  /** Status message interval, ms (default 1 s). */
  statusMs?: number;
  /** Time for the overlay's timers and message times. Default: the system's. */
  clock?: Clock;
  /** Directory of the page (default `web/`). */
  webRoot?: string;
  /** Bounds on HTTP connections and request times (defaults: defaultHttpLimits). */
  httpLimits?: Partial<HttpLimits>;
  /** Refused Origins are logged once, then at most once per this many ms with a count (default 60 s). */
  refusalLogMs?: number;
}

export interface Overlay {
  /** The port actually listened on (config port 0 picks a free one). */
  port: number;
  /** The page's address, e.g. `http://localhost:8080/`. */
  url: string;
  clients(): number;
  /** Per page connection: buffered bytes, previews sent and skipped. */
  clientStats(): ClientStats[];
  /** Open TCP connections to the server: pages, requests in flight, idle keep-alives. */
  connections(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Starts the operator overlay: the page, its WebSocket stream, `/healthz`,
 * `/metrics` and `/api/alerts`, on `config.host:config.port`.
 *
 * @example
 *   const overlay = await startOverlay(config.overlay, line.overlaySource(), log);
 *   log.info({ url: overlay.url }, 'operator page ready');
 *   // … on shutdown
 *   await overlay.close();
 */
export async function startOverlay(config: OverlayConfig, source: OverlaySource, log: Logger, opts: OverlayOptions = {}): Promise<Overlay> {
  const olog = log.child({ stage: 'overlay' });
  const clock = opts.clock ?? systemClock;
  const files = await loadStaticFiles(opts.webRoot);
  const registry = opts.metricsRegistry ?? new Registry();
  const authorized = tokenChecker(config.token);
  const hub = new ClientHub({
    skipAbove: opts.skipAbove ?? 2 * 1024 * 1024,
    dropAbove: opts.dropAbove ?? 8 * 1024 * 1024,
    heartbeatMs: opts.heartbeatMs ?? 15_000,
    clock,
  }, olog);
  const previews = new PreviewEncoder(
    { width: config.preview_width, fps: config.preview_fps, clock },
    () => hub.size > 0,
    (_camera, message) => hub.broadcastPreview(message),
    olog,
  );
  const metrics = createMetrics(registry, source, hub, previews);

  // Alerts go out in arrival order even though their thumbnails encode asynchronously.
  // Thumbnails of the last alerts are kept, so a page opened later still shows them.
  let alertChain: Promise<void> = Promise.resolve();
  const thumbnails = new Map<string, string>();
  const onAlert = (alert: AlertView, picture?: Picture) => {
    const held = picture?.hold(); // the thumbnail is cut when the alerts before it are out
    alertChain = alertChain.then(async () => {
      const payload = await withThumbnail(alert, held ?? previews.latest(alert.camera) ?? undefined, olog).finally(() => held?.release());
      if (payload.thumbnail) {
        thumbnails.set(alert.id, payload.thumbnail);
        if (thumbnails.size > RECENT_ALERTS) thumbnails.delete(thumbnails.keys().next().value as string);
      }
      if (hub.size > 0) hub.broadcast({ v: 1, type: 'alert', alert: payload }, false);
    });
  };

  const unsubscribe = [
    source.onPicture((picture) => previews.offer(picture)),
    source.onInspected((result, tracks) => {
      metrics.observeInspected(result);
      if (hub.size > 0) hub.broadcast(detectionsMessage(result, tracks), true);
    }),
    source.onAlert(onAlert),
    // Must-deliver: a page that missed a verdict would offer to judge an alert again.
    source.onVerdict?.((verdict) => {
      if (hub.size > 0) hub.broadcast({ v: 1, type: 'verdict', verdict }, false);
    }) ?? (() => undefined),
  ];
  const statusTimer = clock.setInterval(() => {
    if (hub.size > 0) hub.broadcast(statusMessage(source, hub.size, clock.now()), true);
  }, opts.statusMs ?? 1000);

  const welcome = (ws: WebSocket) => {
    hub.sendTo(ws, helloMessage(source, config, clock.now()));
    hub.sendTo(ws, statusMessage(source, hub.size, clock.now()));
    hub.sendTo(ws, { v: 1, type: 'alerts', alerts: recent(source, olog).map((a) => ({ ...a, thumbnail: thumbnails.get(a.id) ?? a.thumbnail })) });
    const missed = recentMissed(source, olog);
    if (missed) hub.sendTo(ws, { v: 1, type: 'missed', missed });
  };

  const limits = { ...defaultHttpLimits(config.max_clients), ...opts.httpLimits };
  const server = createBoundedServer(createRequestHandler({
    source, files, registry, authorized, actionOrigin: originChecker(true, config.allowed_origins), operator: operatorChecker(config.token, config.operator_token), log: olog,
  }), limits, olog);
  const originRefusals = new RefusalLog(olog, 'overlay socket refused: its page comes from another site (Origin not the overlay\'s own nor in overlay.allowed_origins)', opts.refusalLogMs, clock);
  const wss = attachSockets(server, {
    hub, maxClients: config.max_clients, authorized, welcome, log: olog, clock,
    originRefusal: originChecker(config.token !== undefined, config.allowed_origins),
    onOriginRefused: (refusal, remote) => originRefusals.note({ remote, origin: refusal.origin, host: refusal.host }),
  });
  const port = await listen(server, config.host, config.port);
  const shown = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${shown}:${port}/`;
  olog.info({ url, token: config.token !== undefined, previewWidth: config.preview_width, previewFps: config.preview_fps }, 'operator overlay listening');

  let closing: Promise<void> | null = null;
  return {
    port,
    url,
    clients: () => hub.size,
    clientStats: () => hub.stats(),
    connections: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close() {
      closing ??= (async () => {
        for (const off of unsubscribe) off();
        clock.clearInterval(statusTimer);
        previews.close();
        originRefusals.close();
        hub.closeAll(CloseCodes.goingAway, 'server shutting down');
        await alertChain;
        await waitUntil(() => hub.size === 0, 1000, clock);
        hub.terminateAll();
        wss.close();
        metrics.remove();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        olog.info('operator overlay closed');
      })();
      return closing;
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new LinesightError('E_OVERLAY_LISTEN', `Expected to serve the operator page on ${host}:${port} but ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}; change overlay.host / overlay.port`, { cause: err, details: { sysCode: err.code } }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

function recent(source: OverlaySource, log: Logger): AlertPayload[] {
  try {
    return source.recentAlerts(RECENT_ALERTS).map((a) => toAlertPayload(a));
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'recent alerts unavailable; the page starts with live alerts only');
    return [];
  }
}

/** The recent missed defects for a page that connects; undefined where the line has none to offer (or cannot read them). */
function recentMissed(source: OverlaySource, log: Logger): VerdictView[] | undefined {
  if (!source.recentMissed) return undefined;
  try {
    return source.recentMissed(RECENT_ALERTS);
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'recent missed defects unavailable; the page shows those marked from now on');
    return undefined;
  }
}

/** The thumbnail is cut from the alert's picture (its own frame's, or the nearest the line had), else from the newest preview picture. */
async function withThumbnail(alert: AlertView, picture: Picture | undefined, log: Logger): Promise<AlertPayload> {
  if (!picture || picture.width !== alert.frame.width || picture.height !== alert.frame.height) return toAlertPayload(alert);
  try {
    const jpeg = await alertThumbnail(picture, alert.box);
    return toAlertPayload(alert, jpeg ? jpeg.toString('base64') : null);
  } catch (err) {
    log.warn({ camera: alert.camera, alert: alert.id, err: errorMessage(err) }, 'alert thumbnail failed; the alert is shown without one');
    return toAlertPayload(alert);
  }
}

async function waitUntil(check: () => boolean, timeoutMs: number, clock: Clock): Promise<void> {
  const deadline = clock.monotonic() + timeoutMs;
  while (!check() && clock.monotonic() < deadline) await new Promise((r) => clock.setTimeout(() => r(undefined), 20));
}
