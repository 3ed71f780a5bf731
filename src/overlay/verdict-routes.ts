import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { errorMessage, LinesightError } from '../errors.js';
import { REFUSAL_STATUS, refusalOf } from '../verdicts/refusal.js';
import type { OperatorCheck } from './auth.js';
import type { OriginRefusal } from './origin.js';
import type { OverlaySource, VerdictView } from './source.js';

/** Largest verdict request body: a verdict is a few hundred bytes. */
export const MAX_VERDICT_BODY = 4096;

/** `POST /api/alerts/{id}/verdict`, `POST /api/cameras/{id}/missed` and `POST /api/cameras/{id}/freeze`. */
export const VERDICT_ROUTE = /^\/api\/alerts\/([A-Za-z0-9_.-]+)\/verdict$/;
export const MISSED_ROUTE = /^\/api\/cameras\/([A-Za-z0-9_.-]+)\/missed$/;
export const FREEZE_ROUTE = /^\/api\/cameras\/([A-Za-z0-9_.-]+)\/freeze$/;
/** `POST /api/verdicts/{id}/withdraw`: a missed defect taken back. */
export const WITHDRAW_ROUTE = /^\/api\/verdicts\/([A-Za-z0-9_.-]+)\/withdraw$/;

export interface VerdictRouteDeps {
  source: OverlaySource;
  operator: (req: IncomingMessage) => OperatorCheck;
  actionOrigin: (req: IncomingMessage) => OriginRefusal | null;
  log: Logger;
}

type Json = (res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>) => void;

/** A verdict or a missed defect: stored when `act` returns, answered 201 with it. */
export function verdictAction(deps: VerdictRouteDeps, req: IncomingMessage, res: ServerResponse, json: Json,
  act: (source: OverlaySource, body: unknown) => VerdictView): Promise<void> {
  return operatorAction(deps, req, res, json, (source, body) => {
    const verdict = act(source, body);
    deps.log.debug({ id: verdict.id, verdict: verdict.verdict }, 'verdict stored (asked over HTTP)');
    return { status: 201, body: { v: 1, verdict } };
  });
}

/** The operator's actions: the checks in the order a refusal is answered (method, token, origin, type, size, body), then the source. */
export async function operatorAction(deps: VerdictRouteDeps, req: IncomingMessage, res: ServerResponse, json: Json,
  act: (source: OverlaySource, body: unknown) => ActionAnswer | Promise<ActionAnswer>): Promise<void> {
  if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed', message: `expected POST but received ${req.method}` }, { Allow: 'POST' });
  const check = deps.operator(req);
  if (check === 'missing' || check === 'wrong') {
    return json(res, 401, { error: 'unauthorized', message: `expected the operator token as "Authorization: Bearer …" but ${check === 'missing' ? 'none was sent' : 'another token was sent'}` },
      { 'WWW-Authenticate': 'Bearer realm="linesight operator"' });
  }
  if (check === 'viewer') return json(res, 403, { error: 'forbidden', message: 'expected the operator token (overlay.operator_token) but received the viewer token: it shows the line, it does not judge alerts' });
  const refusal = deps.actionOrigin(req);
  if (refusal) {
    deps.log.warn({ origin: refusal.origin }, 'overlay verdict refused: its page comes from another site');
    return json(res, 403, { error: 'forbidden_origin', message: `expected a request from the overlay's own page or overlay.allowed_origins but it came from ${refusal.origin}` });
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') return json(res, 415, { error: 'unsupported_media_type', message: `expected Content-Type: application/json but received ${JSON.stringify(req.headers['content-type'] ?? null)}` });
  const raw = await readBody(req, MAX_VERDICT_BODY);
  if (raw === null) {
    res.setHeader('Connection', 'close'); // the rest of the oversized body is not read
    return json(res, 413, { error: 'payload_too_large', message: `expected a body of at most ${MAX_VERDICT_BODY} bytes but received more` });
  }
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    return json(res, 400, { error: 'bad_request', message: `expected a JSON body but received text that does not parse (${errorMessage(err)})` });
  }
  let answer: ActionAnswer;
  try {
    answer = await act(deps.source, body);
  } catch (err) {
    const reason = refusalOf(err);
    if (!reason) throw err;
    const details = (err as LinesightError).details ?? {};
    return json(res, REFUSAL_STATUS[reason], { error: reason, message: errorMessage(err), ...(details.current ? { current: details.current } : {}) });
  }
  json(res, answer.status, answer.body);
}

interface ActionAnswer {
  status: number;
  body: unknown;
}

/** The body, or null once it grows past `limit` bytes (the rest is left unread). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
