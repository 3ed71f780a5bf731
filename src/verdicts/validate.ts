import { describeValue } from '../errors.js';
import type { Box } from '../types.js';
import { verdictRefusal } from './refusal.js';

/** Longest operator or station name a verdict carries. */
export const OPERATOR_MAX = 64;
/** Smallest side of a drawn box, source pixels: a tap is not a box. */
export const MIN_BOX_SIDE = 2;

/** A verdict on an alert, as the page asks for it. */
export interface JudgeRequest {
  verdict: 'confirmed' | 'false_alarm';
  operator: string;
  replace: boolean;
}

/** A missed defect, as the page draws it. */
export interface MissedRequest {
  className: string;
  box: Box;
  frame: { width: number; height: number; ts?: number };
  operator: string;
}

const bad = (message: string) => verdictRefusal('bad_request', message);

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`Expected ${what} to be a JSON object but received ${describeValue(value)}`);
  return value as Record<string, unknown>;
}

function operator(value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > OPERATOR_MAX) {
    throw bad(`Expected "operator" to be the station or operator name, 1–${OPERATOR_MAX} characters, but received ${describeValue(value)}`);
  }
  return value;
}

function finite(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw bad(`Expected ${what} to be a number but received ${describeValue(value)}`);
  return value;
}

function positiveInt(value: unknown, what: string): number {
  if (!Number.isInteger(value) || (value as number) < 1) throw bad(`Expected ${what} to be a positive integer but received ${describeValue(value)}`);
  return value as number;
}

/** Parses the body of `POST /api/alerts/{id}/verdict`; throws a `bad_request` refusal that says what was expected. */
export function parseJudgeRequest(value: unknown): JudgeRequest {
  const body = object(value, 'the body');
  if (body.verdict !== 'confirmed' && body.verdict !== 'false_alarm') {
    throw bad(`Expected "verdict" to be "confirmed" or "false_alarm" but received ${describeValue(body.verdict)}`);
  }
  if (body.replace !== undefined && typeof body.replace !== 'boolean') throw bad(`Expected "replace" to be true or false but received ${describeValue(body.replace)}`);
  return { verdict: body.verdict, operator: operator(body.operator), replace: body.replace === true };
}

/** Parses the body of `POST /api/cameras/{camera}/missed` against the model's class names. */
export function parseMissedRequest(value: unknown, classNames: readonly string[]): MissedRequest {
  const body = object(value, 'the body');
  if (typeof body.class !== 'string' || !classNames.includes(body.class)) {
    throw bad(`Expected "class" to be one of the model's classes (${classNames.map((c) => JSON.stringify(c)).join(', ')}) but received ${describeValue(body.class)}`);
  }
  const f = object(body.frame, '"frame"');
  const frame = { width: positiveInt(f.width, 'frame.width'), height: positiveInt(f.height, 'frame.height'), ts: frameTime(f.ts) };
  const b = object(body.box, '"box"');
  const box = { x: finite(b.x, 'box.x'), y: finite(b.y, 'box.y'), w: finite(b.w, 'box.w'), h: finite(b.h, 'box.h') };
  if (box.w < MIN_BOX_SIDE || box.h < MIN_BOX_SIDE) throw bad(`Expected a box at least ${MIN_BOX_SIDE}×${MIN_BOX_SIDE} source pixels but received ${box.w}×${box.h}`);
  if (box.x < 0 || box.y < 0 || box.x + box.w > frame.width || box.y + box.h > frame.height) {
    throw bad(`Expected the box to lie within the ${frame.width}×${frame.height} frame but received x ${box.x}, y ${box.y}, w ${box.w}, h ${box.h}`);
  }
  return { className: body.class, box, frame: frame.ts === undefined ? { width: frame.width, height: frame.height } : frame, operator: operator(body.operator) };
}

/** Parses the body of `POST /api/verdicts/{id}/withdraw`: `{"operator"}`, who takes the missed defect back. */
export function parseWithdrawRequest(value: unknown): { operator: string } {
  return { operator: operator(object(value, 'the body').operator) };
}

/** Parses the body of `POST /api/cameras/{camera}/freeze`: `{"ts"}`, the capture time of the frame the page froze. */
export function parseFreezeRequest(value: unknown): { ts: number } {
  const body = object(value, 'the body');
  const ts = frameTime(body.ts, 'ts');
  if (ts === undefined) throw bad('Expected "ts", the capture time of the frozen frame, but received none');
  return { ts };
}

/** ISO 8601 is the contract; ms since epoch is taken too, as the page's pictures carry their capture time so. */
function frameTime(value: unknown, what = 'frame.ts'): number | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === 'string' ? Date.parse(value) : typeof value === 'number' && value > 0 ? value : Number.NaN;
  if (!Number.isFinite(ms)) throw bad(`Expected ${what} to be an ISO 8601 time (e.g. 2026-12-05T09:30:00.250Z) but received ${describeValue(value)}`);
  return ms;
}
