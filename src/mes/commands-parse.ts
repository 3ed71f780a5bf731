import { describeValue } from '../errors.js';

/** `{request_id, camera, from_seq, to_seq}` on `{prefix}/{site}/{line}/cmd/replay`. */
export interface ReplayRequest {
  requestId: string;
  camera: string;
  fromSeq: number;
  toSeq: number;
}

/**
 * Why a command was refused, as the response's `error.code` says it:
 * `malformed` (not JSON, a field missing or of the wrong kind), `bad_range`
 * (from_seq > to_seq), `range_too_large` (over mes.replay_max),
 * `unknown_camera`, `out_of_range` (beyond the camera's last seq), `busy`
 * (too many replays waiting; ask again later), `failed` (the database failed).
 */
export type CommandErrorCode = 'malformed' | 'bad_range' | 'range_too_large' | 'unknown_camera' | 'out_of_range' | 'busy' | 'failed';

export type ParsedReplay =
  | { ok: true; request: ReplayRequest }
  | { ok: false; requestId?: string; code: CommandErrorCode; message: string };

/** Longest command payload read; anything longer is refused unread. */
export const MAX_COMMAND_BYTES = 16_384;
const MAX_REQUEST_ID = 200;

/**
 * Reads a replay command. Pure: whether the camera exists and has given those
 * numbers is the service's question. A refusal keeps the `request_id` when
 * one could be read, so the sender can be answered.
 */
export function parseReplay(payload: Buffer, maxRange: number): ParsedReplay {
  if (payload.length > MAX_COMMAND_BYTES) return { ok: false, code: 'malformed', message: `Expected a replay command of at most ${MAX_COMMAND_BYTES} bytes but received ${payload.length}` };
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, code: 'malformed', message: 'Expected a JSON object {request_id, camera, from_seq, to_seq} but the payload is not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, code: 'malformed', message: `Expected a JSON object {request_id, camera, from_seq, to_seq} but received ${describeValue(body)}` };
  }
  const b = body as Record<string, unknown>;
  const rid = b.request_id;
  if (typeof rid !== 'string' || rid.length === 0 || rid.length > MAX_REQUEST_ID) {
    return { ok: false, code: 'malformed', message: `Expected request_id to be a string of 1–${MAX_REQUEST_ID} characters but received ${describeValue(rid)}` };
  }
  const refuse = (code: CommandErrorCode, message: string): ParsedReplay => ({ ok: false, requestId: rid, code, message });
  if (typeof b.camera !== 'string' || b.camera.length === 0) return refuse('malformed', `Expected camera to be a camera id but received ${describeValue(b.camera)}`);
  for (const key of ['from_seq', 'to_seq'] as const) {
    const v = b[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return refuse('malformed', `Expected ${key} to be an integer ≥ 1 but received ${describeValue(v)}`);
  }
  const fromSeq = b.from_seq as number;
  const toSeq = b.to_seq as number;
  if (fromSeq > toSeq) return refuse('bad_range', `Expected from_seq ≤ to_seq but received from_seq ${fromSeq} and to_seq ${toSeq}`);
  const count = toSeq - fromSeq + 1;
  if (count > maxRange) return refuse('range_too_large', `Expected at most ${maxRange} alerts per replay (mes.replay_max) but the range ${fromSeq}–${toSeq} holds ${count}; ask in parts`);
  return { ok: true, request: { requestId: rid, camera: b.camera, fromSeq, toSeq } };
}

/** The numbers of [from, to] not in `present` (ascending), as ranges [a, b]. */
export function missingRanges(from: number, to: number, present: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = from;
  for (const seq of present) {
    if (seq < next || seq > to) continue;
    if (seq > next) out.push([next, seq - 1]);
    next = seq + 1;
  }
  if (next <= to) out.push([next, to]);
  return out;
}
