import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, isLinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { OperatorCheck } from './auth.js';
import type { OriginRefusal } from './origin.js';
import type { OverlaySource } from './source.js';

/** Largest request body of a model action: a version, a hash or a path. */
const MAX_BODY = 4096;

/** `/api/models…`: the models on the box, the comparison, and the actions (promote, rollback, shadow). */
export const MODELS_ROUTE = /^\/api\/models(?:\/(activate|rollback|shadow|compare))?$/;

export interface ModelRouteDeps {
  source: OverlaySource;
  authorized: (req: IncomingMessage, url: URL) => boolean;
  operator: (req: IncomingMessage) => OperatorCheck;
  actionOrigin: (req: IncomingMessage) => OriginRefusal | null;
  log: Logger;
}

type Json = (res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>) => void;

/** What a refused model change answers: unknown model 404, a model that does not fit or load 422, the rest 400. */
function refusalStatus(code: string): number {
  if (code === 'E_MODEL_REF' || code === 'E_MODEL_NOT_FOUND') return 404;
  if (code === 'E_MODEL_LOAD' || code === 'E_MODEL_SHAPE' || code === 'E_MODEL_LAYOUT' || code === 'E_PROVIDER') return 422;
  return 400;
}

/**
 * Reading (GET /api/models, /api/models/compare) needs the overlay token like
 * /api/alerts; changing the model (POST activate, rollback, shadow) needs the
 * operator token and the overlay's own origin, as verdicts do: the model
 * decides what the MES is told.
 */
export async function modelRoute(deps: ModelRouteDeps, req: IncomingMessage, url: URL, res: ServerResponse, json: Json, action: string | undefined): Promise<void> {
  const models = deps.source.models;
  if (!models) return json(res, 404, { error: 'not_found', message: 'this line offers no model changes' });
  if (action === undefined || action === 'compare') {
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method_not_allowed', message: `expected GET but received ${req.method}` }, { Allow: 'GET, HEAD' });
    if (!deps.authorized(req, url)) return json(res, 401, { error: 'unauthorized', message: 'expected the overlay token as "Authorization: Bearer …" or ?token=' }, { 'WWW-Authenticate': 'Bearer realm="linesight overlay"' });
    if (action === undefined) return json(res, 200, { v: 1, ...models.list() });
    const sinceRaw = url.searchParams.get('since');
    const since = sinceRaw === null ? undefined : Number(sinceRaw);
    if (since !== undefined && !Number.isFinite(since)) return json(res, 400, { error: 'bad_since', message: `expected since in ms since the epoch but received ${JSON.stringify(sinceRaw)}` });
    return json(res, 200, { v: 1, ...models.compare(since) });
  }
  if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed', message: `expected POST but received ${req.method}` }, { Allow: 'POST' });
  const check = deps.operator(req);
  if (check !== 'ok') {
    return json(res, check === 'viewer' ? 403 : 401, { error: check === 'viewer' ? 'forbidden' : 'unauthorized', message: 'expected the operator token (overlay.operator_token) as "Authorization: Bearer …" to change the model' },
      check === 'viewer' ? {} : { 'WWW-Authenticate': 'Bearer realm="linesight operator"' });
  }
  const refusal = deps.actionOrigin(req);
  if (refusal) return json(res, 403, { error: 'forbidden_origin', message: `expected a request from the overlay's own page or overlay.allowed_origins but it came from ${refusal.origin}` });
  const body = await readJson(req);
  if (body instanceof Error) return json(res, 400, { error: 'bad_request', message: body.message });
  const requestedBy = typeof body.requested_by === 'string' && body.requested_by !== '' ? body.requested_by.slice(0, 100) : 'http';
  const model = typeof body.model === 'string' && body.model !== '' ? body.model : undefined;
  try {
    let result: unknown;
    if (action === 'rollback') result = await models.rollback(requestedBy);
    else if (action === 'shadow') result = await models.shadow(body.stop === true ? null : model ?? null, requestedBy);
    else {
      if (!model) return json(res, 400, { error: 'bad_request', message: `expected {"model": VERSION | HASH | PATH} but received ${JSON.stringify(body)}` });
      result = await models.activate(model, requestedBy);
    }
    deps.log.info({ action, model, requested_by: requestedBy, remote: req.socket.remoteAddress }, `model ${action} asked over HTTP done`);
    json(res, 200, { v: 1, ...(result as object) });
  } catch (err) {
    if (!isLinesightError(err)) throw err;
    json(res, refusalStatus(err.code), { error: err.code, message: errorMessage(err) });
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | Error> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return new Error(`expected a body of at most ${MAX_BODY} bytes but received more`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : new Error('expected a JSON object');
  } catch (err) {
    return new Error(`expected a JSON body but it does not parse (${errorMessage(err)})`);
  }
}
