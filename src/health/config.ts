import type { CameraConfig, Config, HealthConfig } from '../config/schema.js';

/** The health checks of one camera: the global `health:` block with the camera's own `health:` laid over it. */
export type ResolvedHealthConfig = HealthConfig;

export type HealthCheckName = keyof HealthConfig['checks'];

/**
 * Merges a camera's `health:` override into the global block: a key the camera
 * sets wins, every other key (each check too) keeps the global value.
 *
 * @example
 * const cfg = healthConfigFor(config.cameras[0], config);
 * if (cfg.enabled) monitor = new CameraHealthMonitor(cam.id, cfg);
 */
export function healthConfigFor(cam: CameraConfig, config: Config): ResolvedHealthConfig {
  const own = cam.health ?? {};
  const { checks: ownChecks, ...ownValues } = own;
  const defined = <T extends object>(o: T): Partial<T> =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return Object.freeze({
    ...config.health,
    ...defined(ownValues),
    checks: Object.freeze({ ...config.health.checks, ...defined(ownChecks ?? {}) }),
  });
}
