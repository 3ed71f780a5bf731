import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { CameraTrackers } from '../../src/events/camera-trackers.js';
import type { DetectionRules } from '../../src/events/rules.js';
import type { InspectedFrame } from '../../src/types.js';

function config(): Config {
  const { config: cfg, problems } = validateConfig({
    cameras: [{ id: 'cam1', url: 'a.mp4' }, { id: 'cam2', url: 'b.mp4' }], model: { path: 'm.onnx' }, events: { confirm_hits: 2, confirm_window: 3 },
  });
  if (!cfg) throw new Error(JSON.stringify(problems));
  return cfg;
}

/** A recipe whose region is the left half of a 100×100 frame. */
function leftHalf(name: string): DetectionRules {
  return { name, minConfidence: () => 0, region: () => ({ roi: [[0, 0], [50, 0], [50, 100], [0, 100]], exclude: [] }) };
}

/** Frame `seq` of `camera` with one defect whose centre is at x = 80 (right half). */
function rightSide(camera: string, seq: number): InspectedFrame {
  const ts = 1_750_000_000_000 + seq * 200;
  return {
    frame: { camera, seq, captureTs: ts, captureMono: ts, width: 100, height: 100, pictured: false },
    detections: [{ classId: 0, className: 'scratch', confidence: 0.9, box: { x: 75, y: 40, w: 10, h: 10 } }],
    inferredAt: ts, latencyMs: 0, inferMs: 0, batchSize: 1,
  };
}

/** Events a camera's tracker confirms over four frames of the right-side defect. */
function confirmed(trackers: CameraTrackers, camera: string, from: number): number {
  let events = 0;
  for (let seq = from; seq < from + 4; seq++) events += trackers.get(camera)!.update(rightSide(camera, seq)).events.length;
  return events;
}

describe('CameraTrackers', () => {
  it('puts every camera, one added later too, under the rules in force; none keep the configuration', () => {
    const cfg = config();
    const trackers = new CameraTrackers(cfg);
    trackers.add(cfg.cameras[0]);
    trackers.apply(undefined);
    expect(confirmed(trackers, 'cam1', 1)).toBe(1); // the configuration has no region: confirmed
    trackers.apply(leftHalf('a'));
    expect(confirmed(trackers, 'cam1', 10)).toBe(0); // outside the recipe's region
    trackers.add(cfg.cameras[1]);
    expect(confirmed(trackers, 'cam2', 1)).toBe(0); // added under the rules in force
    expect([...trackers.ids()]).toEqual(['cam1', 'cam2']);
    trackers.remove('cam1');
    expect(trackers.has('cam1')).toBe(false);
    expect(trackers.get('cam1')).toBeUndefined();
  });
});
