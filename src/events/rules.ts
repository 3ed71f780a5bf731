import type { CameraConfig } from '../config/schema.js';
import type { Detection, InspectedFrame } from '../types.js';
import type { Polygon } from './roi.js';
import type { TrackerFilter } from './tracker.js';

/**
 * What the active recipe decides in the events stage, frame by frame: which
 * detections count (per-class confidence, ignored classes) and where (each
 * camera's regions). The detector decodes at the lowest threshold any recipe
 * needs; these rules then give each frame exactly the active recipe's cut, so
 * a switch takes effect from the next frame without touching the model.
 */
export interface DetectionRules {
  /** The recipe's name, stamped on the alerts it confirms. */
  readonly name: string;
  /** Least confidence a detection of this class needs; Infinity for an ignored class. */
  minConfidence(className: string): number;
  /** The camera's regions under this recipe. */
  region(camera: CameraConfig): { roi?: Polygon; exclude: readonly Polygon[] };
}

/**
 * The frame with only the detections the rules keep: what tracking, the
 * statistics and the overlay see. Those cut go to `near` when the detector
 * reports it (picture capture): under a recipe's higher threshold they are the
 * detections just under it.
 */
export function underRules(result: InspectedFrame, rules: DetectionRules): InspectedFrame {
  const detections: Detection[] = [];
  const cut: Detection[] = [];
  for (const d of result.detections) (d.confidence >= rules.minConfidence(d.className) ? detections : cut).push(d);
  if (cut.length === 0) return result;
  return result.near === undefined ? { ...result, detections } : { ...result, detections, near: [...cut, ...result.near] };
}

/** The tracker's filter under the rules: the regions; the class cut is already made by `underRules`. */
export function trackerFilterOf(rules: DetectionRules, camera: CameraConfig): TrackerFilter {
  const { roi, exclude } = rules.region(camera);
  return { roi, exclude, classConfidence: {}, ignoreClasses: [] };
}
