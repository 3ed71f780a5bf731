import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';
import { verdictRefusal } from '../verdicts/refusal.js';
import { loggableUrl, type OperatorCheck } from './auth.js';
import { BASE_HEADERS, LOCKED_CSP, pageCsp } from './headers.js';
import type { OriginRefusal } from './origin.js';
import { toAlertPayload } from './protocol.js';
import type { OverlaySource } from './source.js';
import { staticKey, type StaticFile } from './static-files.js';
import { FREEZE_ROUTE, MISSED_ROUTE, operatorAction, VERDICT_ROUTE, verdictAction, WITHDRAW_ROUTE } from './verdict-routes.js';
import { MODELS_ROUTE, modelRoute } from './model-routes.js';

export const ALERTS_DEFAULT_LIMIT = 50;
export const ALERTS_MAX_LIMIT = 500;

export interface RouteDeps {
  source: OverlaySource;
  files: Map<string, StaticFile>;
  registry: Registry;
  authorized: (req: IncomingMessage, url: URL) => boolean;
  /** null when a request that changes something may come from its page's Origin (see originChecker). */
  actionOrigin: (req: IncomingMessage) => OriginRefusal | null;
  /** Whether a request may judge alerts (see operatorChecker). */
  operator: (req: IncomingMessage) => OperatorCheck;
  log: Logger;
}

/** `POST /api/cameras/{id}/relearn`. */
const RELEARN = /^\/api\/cameras\/([A-Za-z0-9_.-]+)\/relearn$/;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...BASE_HEADERS, 'Content-Security-Policy': LOCKED_CSP, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const json = (res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), headers);

function unauthorized(res: ServerResponse, page: boolean): void {
  const headers = { 'WWW-Authenticate': 'Bearer realm="linesight overlay"' };
  if (page) {
    send(res, 401, 'text/html; charset=utf-8', '<!doctype html><meta charset="utf-8"><title>linesight</title><body style="background:#000;color:#fff;font:2rem sans-serif;padding:2rem">This overlay needs its access token: open it as <code>/?token=…</code>.</body>', { ...headers, 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'" });
  } else {
    json(res, 401, { error: 'unauthorized', message: 'expected the overlay token as "Authorization: Bearer …" or ?token=' }, headers);
  }
}

/**
 * The HTTP side of the overlay. `/healthz` stays open for load balancers and
 * container health checks but tells only whether the pipeline is alive and each
 * camera's state; the page, `/api/*` and `/metrics` need the token when one is
 * set. Static assets other than the page (scripts, styles) are served without
 * it: they are the same for every installation and carry no line data, and a
 * browser cannot attach a token to the module imports of a page.
 */
export function createRequestHandler(deps: RouteDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch((err: unknown) => {
      deps.log.error({ err: errorMessage(err), url: loggableUrl(req.url) }, 'overlay request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal', message: 'the overlay could not answer this request' });
      else res.destroy();
    });
  };
}

async function handle(deps: RouteDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://overlay.invalid');
  const relearn = RELEARN.exec(url.pathname);
  if (relearn) return relearnCamera(deps, req, url, res, relearn[1]);
  const judged = VERDICT_ROUTE.exec(url.pathname);
  if (judged) return verdictAction(deps, req, res, json, (source, body) => offered(source.verdict?.bind(source), 'verdicts')(judged[1], body));
  const models = MODELS_ROUTE.exec(url.pathname);
  if (models) return modelRoute(deps, req, url, res, json, models[1]);
  const missed = MISSED_ROUTE.exec(url.pathname);
  if (missed) return verdictAction(deps, req, res, json, (source, body) => offered(source.missed?.bind(source), 'missed defects')(missed[1], body));
  const withdrawn = WITHDRAW_ROUTE.exec(url.pathname);
  if (withdrawn) return verdictAction(deps, req, res, json, (source, body) => offered(source.withdraw?.bind(source), 'withdrawals')(withdrawn[1], body));
  const frozen = FREEZE_ROUTE.exec(url.pathname);
  if (frozen) {
    return operatorAction(deps, req, res, json, async (source, body) => ({ status: 200, body: { v: 1, ...await offered(source.freeze?.bind(source), 'pictures')(frozen[1], body) } }));
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    json(res, 405, { error: 'method_not_allowed', message: `expected GET or HEAD but received ${req.method}` }, { Allow: 'GET, HEAD' });
    return;
  }
  switch (url.pathname) {
    case '/healthz':
      return healthz(deps, res);
    case '/metrics':
      if (!deps.authorized(req, url)) return unauthorized(res, false);
      return send(res, 200, deps.registry.contentType, await deps.registry.metrics());
    case '/api/alerts':
      if (!deps.authorized(req, url)) return unauthorized(res, false);
      return alerts(deps, url, res);
    case '/ws':
      return json(res, 426, { error: 'upgrade_required', message: 'expected a WebSocket upgrade' }, { Upgrade: 'websocket' });
    default:
      return staticFile(deps, req, url, res);
  }
}

/**
 * The one action: learn a camera's health baseline again. POST only, with the
 * token when one is set, and never from another site's page (a browser sends
 * Origin on a POST; a cross-site form must not be able to make a moved camera
 * look fine), token or not.
 */
function relearnCamera(deps: RouteDeps, req: IncomingMessage, url: URL, res: ServerResponse, camera: string): void {
  if (req.method !== 'POST') {
    return json(res, 405, { error: 'method_not_allowed', message: `expected POST but received ${req.method}` }, { Allow: 'POST' });
  }
  if (!deps.authorized(req, url)) return unauthorized(res, false);
  const refusal = deps.actionOrigin(req);
  if (refusal) {
    deps.log.warn({ origin: refusal.origin, camera }, 'overlay action refused: its page comes from another site');
    return json(res, 403, { error: 'forbidden_origin', message: `expected a request from the overlay's own page or overlay.allowed_origins but it came from ${refusal.origin}` });
  }
  req.resume();
  if (!deps.source.relearnHealth) return json(res, 404, { error: 'not_found', message: 'this line offers no health re-learning' });
  try {
    deps.source.relearnHealth(camera);
  } catch (err) {
    return json(res, 404, { error: 'unknown_camera', message: errorMessage(err) });
  }
  deps.log.info({ camera, remote: req.socket.remoteAddress }, `health baseline of ${camera} to be learned again (asked over HTTP)`);
  json(res, 202, { v: 1, camera, relearning: true });
}

/** A source's action, or a not-found refusal when the line offers none. */
function offered<A extends unknown[], R>(fn: ((...args: A) => R) | undefined, what: string): (...args: A) => R {
  if (!fn) return () => { throw verdictRefusal('unknown_camera', `this line takes no ${what}`); };
  return fn;
}

function healthz(deps: RouteDeps, res: ServerResponse): void {
  const alive = deps.source.health().alive;
  const cameras = deps.source.cameras().map((c) => ({ id: c.id, state: c.state }));
  json(res, alive ? 200 : 503, { alive, cameras });
}

function alerts(deps: RouteDeps, url: URL, res: ServerResponse): void {
  const raw = url.searchParams.get('limit');
  const limit = raw === null ? ALERTS_DEFAULT_LIMIT : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > ALERTS_MAX_LIMIT) {
    json(res, 400, { error: 'bad_limit', message: `expected limit to be an integer 1–${ALERTS_MAX_LIMIT} but received ${JSON.stringify(raw)}` });
    return;
  }
  json(res, 200, { v: 1, alerts: deps.source.recentAlerts(limit).map((a) => toAlertPayload(a)) });
}

function staticFile(deps: RouteDeps, req: IncomingMessage, url: URL, res: ServerResponse): void {
  const key = staticKey(url.pathname);
  const file = key === null ? undefined : deps.files.get(key);
  if (!file) {
    json(res, 404, { error: 'not_found', message: 'no such page' });
    return;
  }
  const page = key === '/index.html';
  if (page && !deps.authorized(req, url)) return unauthorized(res, true);
  const headers: Record<string, string> = { ETag: file.etag, 'Cache-Control': page ? 'no-cache, private' : file.cacheControl };
  headers['Content-Security-Policy'] = page ? pageCsp(req.headers.host) : LOCKED_CSP;
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, { ...BASE_HEADERS, ...headers });
    res.end();
    return;
  }
  send(res, 200, file.type, file.body, headers);
}
