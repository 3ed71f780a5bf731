import type { CameraConfig, Config } from '../config/schema.js';
import { trackerFilterOf, type DetectionRules } from './rules.js';
import { Tracker } from './tracker.js';

/** A camera's tracker as the line configures it: its regions, and the model's per-class thresholds and ignored classes. */
function trackerFor(cam: CameraConfig, config: Config): Tracker {
  return new Tracker(cam.id, {
    confirmHits: config.events.confirm_hits,
    confirmWindow: config.events.confirm_window,
    maxMissed: config.events.max_missed,
    matchIou: config.events.match_iou,
    maxCentreShift: config.events.max_shift,
    firstMatchShift: config.events.first_shift,
    roi: cam.roi,
    exclude: cam.exclude,
    classConfidence: config.model.class_confidence,
    ignoreClasses: config.model.ignore_classes,
  });
}

/**
 * One tracker per camera, kept under the detection rules in force: a camera
 * added later starts under them, and new rules re-set every tracker's regions
 * (live tracks are kept). The events stage and a candidate's shadow run each
 * keep one, so both confirm defects the same way.
 */
export class CameraTrackers {
  private readonly byCamera = new Map<string, { tracker: Tracker; camera: CameraConfig }>();
  private rules: DetectionRules | undefined;

  constructor(private readonly config: Config) {}

  add(camera: CameraConfig): void {
    const tracker = trackerFor(camera, this.config);
    if (this.rules) tracker.setFilter(trackerFilterOf(this.rules, camera));
    this.byCamera.set(camera.id, { tracker, camera });
  }

  remove(id: string): void {
    this.byCamera.delete(id);
  }

  get(id: string): Tracker | undefined {
    return this.byCamera.get(id)?.tracker;
  }

  has(id: string): boolean {
    return this.byCamera.has(id);
  }

  ids(): IterableIterator<string> {
    return this.byCamera.keys();
  }

  /** Puts every tracker under these rules' regions; the same rules again change nothing, and none leave the configuration's. */
  apply(rules: DetectionRules | undefined): void {
    if (!rules || rules === this.rules) return;
    this.rules = rules;
    for (const { tracker, camera } of this.byCamera.values()) tracker.setFilter(trackerFilterOf(rules, camera));
  }
}
