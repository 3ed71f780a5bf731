import type { ResolvedHealthConfig } from './config.js';
import type { HealthReason } from './types.js';

/*
 * From one sample's measures to the reasons that hold now (`conditions`), and
 * from those to the reasons reported, with hold and clear times (`ReasonHolds`).
 */

/** The reasons in the order they are reported. */
export const REASONS: readonly HealthReason[] = ['frozen', 'dark', 'bright', 'covered', 'blurred', 'moved'];

/** "Dark-ish" for `covered`: a nearly uniform picture below mid-grey. */
export const COVERED_BELOW = 0.5;
/** Below this NCC the static part of the scene is no longer where it was learned (or no longer in view). */
export const MATCH_LOST = 0.5;

export interface SampleMeasures {
  brightness: number;
  contrast: number;
  sharpness: number;
  stillSeconds: number;
  /** Absent while learning. */
  sharpnessBaseline?: number;
  /** Absent while learning or when the scene has no static part to follow. */
  shiftPx?: number;
  shiftFraction?: number;
  match?: number;
}

/**
 * The reasons whose condition holds in this sample. `dark` wins over
 * `covered`: a black picture is always nearly uniform, and "dark" (lights,
 * lens cap) is what an operator should check first. A picture that shows
 * nothing (dark, bright, covered) is not judged for `frozen`, `blurred` or
 * `moved`: black has no sensor noise to show that it is live (clipped at 0),
 * and its sharpness and its match say nothing about focus or aim.
 */
export function conditions(m: SampleMeasures, cfg: ResolvedHealthConfig): Set<HealthReason> {
  const held = new Set<HealthReason>();
  const { dark, bright, covered } = blindness(m, cfg);
  if (dark) held.add('dark');
  if (bright) held.add('bright');
  if (covered) held.add('covered');
  const blind = dark || bright || covered;
  if (!blind && m.stillSeconds >= cfg.frozen_after) held.add('frozen');
  if (!blind && m.sharpnessBaseline !== undefined && m.sharpness < cfg.blurred_ratio * m.sharpnessBaseline) held.add('blurred');
  if (!blind && m.match !== undefined && (m.match < MATCH_LOST || (m.shiftFraction ?? 0) > cfg.moved_fraction)) held.add('moved');
  for (const r of REASONS) if (!cfg.checks[r]) held.delete(r);
  return held;
}

function blindness(m: Pick<SampleMeasures, 'brightness' | 'contrast'>, cfg: ResolvedHealthConfig) {
  const dark = m.brightness < cfg.dark_below;
  const bright = m.brightness > cfg.bright_above;
  const covered = !dark && !bright && m.brightness < COVERED_BELOW && m.contrast < cfg.covered_contrast;
  return { dark, bright, covered };
}

/** True when the picture shows nothing to inspect (dark, bright or covered, whether or not those checks are on): such a sample teaches no baseline. */
export function showsNothing(m: Pick<SampleMeasures, 'brightness' | 'contrast'>, cfg: ResolvedHealthConfig): boolean {
  const b = blindness(m, cfg);
  return b.dark || b.bright || b.covered;
}

/** Seconds a reason's condition must hold before it is reported (`frozen` counts its own time: stillSeconds). */
export function holdSeconds(reason: HealthReason, cfg: ResolvedHealthConfig): number {
  switch (reason) {
    case 'frozen': return 0;
    case 'dark': case 'bright': case 'covered': return cfg.dark_after;
    case 'blurred': return cfg.blurred_after;
    case 'moved': return cfg.moved_after;
  }
}

interface Hold {
  /** Monotonic ms since the condition holds without a break. */
  on?: number;
  /** Monotonic ms since the condition is gone without a break. */
  off?: number;
  reported: boolean;
}

/**
 * The reported reasons: one enters after its condition held for its hold
 * time, and leaves after the condition was gone for `clear_after`, so a
 * flickering measure does not make the state flap.
 */
export class ReasonHolds {
  private readonly holds = new Map<HealthReason, Hold>(REASONS.map((r) => [r, { reported: false }]));

  constructor(private readonly cfg: ResolvedHealthConfig) {}

  /** Takes one sample's conditions at monotonic `now` (ms); returns the reasons reported after it, in report order. */
  update(held: ReadonlySet<HealthReason>, now: number): HealthReason[] {
    for (const reason of REASONS) {
      const h = this.holds.get(reason)!;
      if (held.has(reason)) {
        h.off = undefined;
        h.on ??= now;
        if (!h.reported && now - h.on >= holdSeconds(reason, this.cfg) * 1000) h.reported = true;
      } else {
        h.on = undefined;
        h.off ??= now;
        if (h.reported && now - h.off >= this.cfg.clear_after * 1000) h.reported = false;
      }
    }
    return this.reported();
  }

  reported(): HealthReason[] {
    return REASONS.filter((r) => this.holds.get(r)!.reported);
  }

  /** Forgets `reasons` at once (a re-learn: the operator aimed or focused the camera on purpose). */
  drop(reasons: readonly HealthReason[]): void {
    for (const r of reasons) this.holds.set(r, { reported: false });
  }
}
