/**
 * Camera health: whether a camera that delivers frames is really showing the
 * line. Shared by the checks (`src/health/`), the contract (the health topic,
 * the camera status, the outbox) and the statistics.
 */

/** Why a camera is degraded; several may hold at once. */
export type HealthReason = 'frozen' | 'dark' | 'bright' | 'covered' | 'blurred' | 'moved';

export type HealthStateName = 'ok' | 'degraded';

/** The measures of the last sample, and the baseline they were judged against. */
export interface HealthValues {
  /** Mean brightness of the grey copy, 0–1. */
  brightness: number;
  /** Standard deviation of the grey copy's pixels, 0–1 (near 0: uniform). */
  contrast: number;
  /** Variance of the Laplacian of the grey copy (sharpness). */
  sharpness: number;
  /** The learned sharpness; absent while the baseline is being learned. */
  sharpnessBaseline?: number;
  /** Mean absolute difference to the previous sample, 0–1 (0: bit-identical). */
  change: number;
  /** Seconds the picture has not changed (change below the noise floor). */
  stillSeconds: number;
  /** Offset of the scene against the learned reference, in pixels of the source frame, and as a share of its width. */
  shiftPx?: number;
  shiftFraction?: number;
  /** How well the static part of the scene matches the learned reference at that offset (normalised cross-correlation, −1–1; below 0.5 the match is lost). */
  match?: number;
}

/** A camera's health as its status reports it. */
export interface HealthSnapshot {
  state: HealthStateName;
  reasons: HealthReason[];
  /** Wall-clock ms since which the state holds. */
  since: number;
  /** True while the baseline (sharpness, reference picture) is being learned: `blurred` and `moved` are not judged yet. */
  learning: boolean;
  values?: HealthValues;
}

/** A change of a camera's health state (ok → degraded, degraded → ok, or degraded for other reasons). */
export interface HealthChange {
  camera: string;
  state: HealthStateName;
  reasons: HealthReason[];
  /** Wall-clock ms when the new state began. */
  since: number;
  /** The measures that decided it. */
  values: HealthValues;
}
