import { dirname, join } from 'node:path';
import type { CameraConfig, CaptureConfig, Config } from '../config/schema.js';

/** The capture policies of one camera: the global `capture:` policies with the camera's own `capture:` laid over them. */
export type CapturePolicies = Pick<CaptureConfig, 'random' | 'near_threshold' | 'unconfirmed_track' | 'rare_class'>;

export type PolicyName = keyof CapturePolicies;

export const POLICY_NAMES: readonly PolicyName[] = ['random', 'near_threshold', 'unconfirmed_track', 'rare_class'];

/**
 * Merges a camera's `capture:` override into the global policies: a key the
 * camera sets wins, every other key keeps the global value.
 *
 * @example
 * const policies = capturePoliciesFor(config.cameras[0], config);
 * if (policies.random.enabled) …
 */
export function capturePoliciesFor(cam: CameraConfig, config: Config): CapturePolicies {
  const own = cam.capture ?? {};
  const defined = <T extends object>(o: T | undefined): Partial<T> =>
    Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
  const g = config.capture;
  return Object.freeze({
    random: Object.freeze({ ...g.random, ...defined(own.random) }),
    near_threshold: Object.freeze({ ...g.near_threshold, ...defined(own.near_threshold) }),
    unconfirmed_track: Object.freeze({ ...g.unconfirmed_track, ...defined(own.unconfirmed_track) }),
    rare_class: Object.freeze({ ...g.rare_class, ...defined(own.rare_class) }),
  });
}

/** Where pictures go: `capture.dir`, else a `pictures` folder next to the SQLite file. */
export function picturesDir(config: Pick<Config, 'capture' | 'store'>): string {
  return config.capture.dir ?? join(dirname(config.store.path), 'pictures');
}

/** The lowest confidence a detection must have to be reported at all: the alert threshold less the near-threshold band of any camera that captures near-threshold frames (0 when none does). */
export function captureBand(config: Config): number {
  const cams = config.cameras.map((c) => capturePoliciesFor(c, config).near_threshold);
  return Math.max(0, ...cams.filter((p) => p.enabled).map((p) => p.band));
}
