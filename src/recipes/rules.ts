import type { CameraConfig, Config } from '../config/schema.js';
import type { DetectionRules } from '../events/rules.js';

type Thresholds = Pick<Config['model'], 'confidence' | 'class_confidence' | 'ignore_classes'>;

/** The thresholds a recipe runs with: its own where it sets them, the model's otherwise (class_confidence merged, ignore_classes replaced). */
export function recipeThresholds(config: Pick<Config, 'model' | 'recipes'>, name: string): Thresholds {
  const r = config.recipes[name];
  const m = config.model;
  if (!r) return { confidence: m.confidence, class_confidence: m.class_confidence, ignore_classes: m.ignore_classes };
  return {
    confidence: r.confidence ?? m.confidence,
    class_confidence: { ...m.class_confidence, ...r.class_confidence },
    ignore_classes: r.ignore_classes ?? m.ignore_classes,
  };
}

/** Least confidence a class needs under these thresholds (Infinity when ignored). */
export function classCut(t: Thresholds, className: string): number {
  if (t.ignore_classes.includes(className)) return Infinity;
  return t.class_confidence[className] ?? t.confidence;
}

/**
 * The rules of recipe `name`: thresholds as `recipeThresholds`, and per camera
 * the recipe's `roi` / `exclude` where it sets them, the camera's own otherwise.
 *
 * @example rulesFor(config, 'bottle-500ml').minConfidence('scratch') // 0.6
 */
export function rulesFor(config: Pick<Config, 'model' | 'recipes'>, name: string): DetectionRules {
  const t = recipeThresholds(config, name);
  const cameras = config.recipes[name]?.cameras ?? {};
  return {
    name,
    minConfidence: (className) => classCut(t, className),
    region: (camera: CameraConfig) => {
      const own = cameras[camera.id];
      return { roi: own?.roi ?? camera.roi, exclude: own?.exclude ?? camera.exclude };
    },
  };
}

/**
 * What the detector decodes at when recipes are configured: per class the
 * lowest cut of the model's own thresholds and every recipe's, a class ignored
 * only when all of them ignore it. The events stage then cuts each frame at
 * the active recipe's thresholds. A candidate below the floor never reaches
 * JavaScript; above it, NMS keeps the same boxes at or above any higher cut,
 * because a weaker box never suppresses a stronger one.
 */
export function detectorFloor(config: Pick<Config, 'model' | 'recipes'>): Thresholds {
  const all = [recipeThresholds(config, ''), ...Object.keys(config.recipes).map((n) => recipeThresholds(config, n))];
  const confidence = Math.min(...all.map((t) => t.confidence));
  const named = new Set(all.flatMap((t) => [...Object.keys(t.class_confidence), ...t.ignore_classes]));
  const class_confidence: Record<string, number> = {};
  const ignore_classes: string[] = [];
  for (const name of [...named].sort()) {
    const cut = Math.min(...all.map((t) => classCut(t, name)));
    if (cut === Infinity) ignore_classes.push(name);
    else if (cut !== confidence) class_confidence[name] = cut;
  }
  return { confidence, class_confidence, ignore_classes };
}

/** The configuration the detector is opened with: the model's thresholds lowered to `detectorFloor` when recipes are configured. */
export function withDetectorFloor<C extends Pick<Config, 'model' | 'recipes'>>(config: C): C {
  if (Object.keys(config.recipes).length === 0) return config;
  return { ...config, model: { ...config.model, ...detectorFloor(config) } };
}
