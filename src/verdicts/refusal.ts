import { LinesightError } from '../errors.js';

/**
 * Why a verdict was refused, each with the HTTP status the overlay answers:
 * `bad_request` 400 (the body is not a verdict, or what is to be withdrawn is
 * not a missed defect), `unknown_alert`, `unknown_camera` and `unknown_verdict`
 * 404, `already_judged` 409 (the alert has a verdict and the request did not
 * say `replace`), `already_withdrawn` 409.
 */
export type RefusalReason = 'bad_request' | 'unknown_alert' | 'unknown_camera' | 'unknown_verdict' | 'already_judged' | 'already_withdrawn';

export const REFUSAL_STATUS: Record<RefusalReason, number> = {
  bad_request: 400,
  unknown_alert: 404,
  unknown_camera: 404,
  unknown_verdict: 404,
  already_judged: 409,
  already_withdrawn: 409,
};

/** A refused verdict: E_ARGUMENT with the reason (and, for `already_judged`, the current verdict) in `details`. */
export function verdictRefusal(reason: RefusalReason, message: string, extra: Record<string, unknown> = {}): LinesightError {
  return new LinesightError('E_ARGUMENT', message, { details: { refusal: reason, ...extra } });
}

/** The reason of a refusal made by verdictRefusal; undefined for any other error. */
export function refusalOf(err: unknown): RefusalReason | undefined {
  if (!(err instanceof LinesightError)) return undefined;
  const reason = err.details?.refusal;
  return typeof reason === 'string' && reason in REFUSAL_STATUS ? (reason as RefusalReason) : undefined;
}

/** Throws the `unknown_camera` refusal unless `camera` is one of the `running` ones. */
export function expectRunningCamera(camera: string, running: readonly string[]): void {
  if (!running.includes(camera)) throw verdictRefusal('unknown_camera', `Expected one of the running cameras (${running.join(', ')}) but received ${JSON.stringify(camera)}`);
}
