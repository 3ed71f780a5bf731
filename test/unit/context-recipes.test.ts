import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { parseContext } from '../../src/context/message.js';
import { ContextTimeline } from '../../src/context/timeline.js';
import { underRules } from '../../src/events/rules.js';
import { parseRecipeRequest } from '../../src/recipes/request.js';
import { detectorFloor, rulesFor, withDetectorFloor } from '../../src/recipes/rules.js';
import type { InspectedFrame } from '../../src/types.js';

const ctx = (lot: string, ts: number) => ({ ts, context: { lot, ts: new Date(ts).toISOString() } });

describe('production context message', () => {
  it('reads the documented fields and normalises ts to UTC milliseconds', () => {
    const r = parseContext(Buffer.from(JSON.stringify({ ts: '2025-03-04T06:06:07+01:00', lot: 'L-7', order: 'O-1', extra: { line_speed: 3 }, operator: null })));
    expect(r).toEqual({
      ok: true, ts: Date.UTC(2025, 2, 4, 5, 6, 7),
      context: { order: 'O-1', lot: 'L-7', operator: null, extra: { line_speed: 3 }, ts: '2025-03-04T05:06:07.000Z' },
    });
    // Same change, fields in another order: the same JSON (the history's dedup key).
    const again = parseContext(JSON.stringify({ operator: null, extra: { line_speed: 3 }, order: 'O-1', lot: 'L-7', ts: '2025-03-04T05:06:07.000Z' }));
    expect(again.ok && JSON.stringify(again.context)).toBe(r.ok && JSON.stringify(r.context));
  });

  it('refuses what is not a context, saying what was expected', () => {
    expect(parseContext('not json')).toMatchObject({ ok: false, fault: expect.stringMatching(/^expected JSON/) });
    expect(parseContext('{"lot":"L"}')).toEqual({ ok: false, fault: expect.stringMatching(/^ts: expected ts as an ISO 8601 time/) });
    expect(parseContext('{"lot":"L","ts":"yesterday"}')).toMatchObject({ ok: false, fault: expect.stringMatching(/^ts: expected/) });
    expect(parseContext('{"lot":7,"ts":"2025-03-04T05:06:07Z"}')).toMatchObject({ ok: false, fault: expect.stringMatching(/^lot: expected lot as a string/) });
    expect(parseContext('{"lot_id":"L","ts":"2025-03-04T05:06:07Z"}')).toMatchObject({ ok: false, fault: expect.stringContaining('lot_id; plant-specific fields go in "extra"') });
    expect(parseContext('[1]')).toMatchObject({ ok: false });
    expect(parseContext(JSON.stringify({ ts: '2025-03-04T05:06:07Z', extra: { x: 'y'.repeat(9000) } }))).toMatchObject({ ok: false, fault: expect.stringMatching(/^expected at most 8192 bytes/) });
  });
});

describe('context in force at a capture time', () => {
  it('is the latest change at or before it, whatever order the changes came in', () => {
    const t = new ContextTimeline();
    expect(t.at(5000)).toBeUndefined();
    t.add(ctx('B', 2000));
    t.add(ctx('A', 1000)); // late message: took effect before B
    t.add(ctx('C', 3000));
    expect(t.at(999)).toBeUndefined();
    expect(t.at(1000)?.lot).toBe('A');
    expect(t.at(1999)?.lot).toBe('A');
    expect(t.at(2000)?.lot).toBe('B');
    expect(t.at(2999)?.lot).toBe('B');
    expect(t.at(1e13)?.lot).toBe('C');
    expect(t.latest()?.context.lot).toBe('C');
  });

  it('stores a change arriving twice once, and keeps only the newest changes', () => {
    const t = new ContextTimeline(3);
    expect(t.add(ctx('A', 1000))).toBe(true);
    expect(t.add(ctx('A', 1000))).toBe(false);
    expect(t.add(ctx('A2', 1000))).toBe(true); // same time, other content: the later one wins
    expect(t.at(1000)?.lot).toBe('A2');
    t.add(ctx('B', 2000));
    t.add(ctx('C', 3000));
    expect(t.size).toBe(3);
    expect(t.at(1500)?.lot).toBe('A2');
    expect(t.at(1000)?.lot).toBe('A2');
  });
});

function config(raw: Record<string, unknown>) {
  const { config: cfg, problems } = validateConfig({ cameras: [{ id: 'cam1', url: 'a.mp4', roi: [[0, 0], [10, 0], [10, 10]] }, { id: 'cam2', url: 'b.mp4' }], model: { path: 'm.onnx', confidence: 0.5, class_confidence: { red: 0.7 } }, ...raw });
  if (!cfg) throw new Error(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return cfg;
}

describe('recipes', () => {
  const recipes = {
    small: { confidence: 0.3, ignore_classes: ['blue'], cameras: { cam1: { roi: [[100, 100], [200, 100], [200, 200]] } } },
    large: { class_confidence: { green: 0.9 }, cameras: { cam2: { exclude: [[[0, 0], [5, 0], [5, 5]]] } } },
  };

  it('merge their thresholds and regions over the model and the cameras', () => {
    const cfg = config({ recipes });
    const small = rulesFor(cfg, 'small');
    expect(['red', 'green', 'blue'].map((c) => small.minConfidence(c))).toEqual([0.7, 0.3, Infinity]);
    expect(small.region(cfg.cameras[0])).toEqual({ roi: [[100, 100], [200, 100], [200, 200]], exclude: [] });
    expect(small.region(cfg.cameras[1])).toEqual({ roi: undefined, exclude: [] });
    const large = rulesFor(cfg, 'large');
    expect(['red', 'green', 'blue'].map((c) => large.minConfidence(c))).toEqual([0.7, 0.9, 0.5]);
    expect(large.region(cfg.cameras[0]).roi).toEqual([[0, 0], [10, 0], [10, 10]]);
    expect(large.region(cfg.cameras[1]).exclude).toEqual([[[0, 0], [5, 0], [5, 5]]]);
  });

  it('open the detector at the lowest cut any of them needs', () => {
    const cfg = config({ recipes });
    // blue: ignored by small, 0.5 (the model's) elsewhere: never needed below 0.5.
    expect(detectorFloor(cfg)).toEqual({ confidence: 0.3, class_confidence: { blue: 0.5, red: 0.7 }, ignore_classes: [] });
    expect(withDetectorFloor(cfg).model).toMatchObject({ confidence: 0.3, class_confidence: { blue: 0.5, red: 0.7 }, ignore_classes: [] });
    const both = config({ recipes: { a: { ignore_classes: ['blue'] }, b: { ignore_classes: ['blue', 'red'] } }, model: { path: 'm.onnx', ignore_classes: ['blue'] } });
    expect(detectorFloor(both)).toEqual({ confidence: 0.25, class_confidence: {}, ignore_classes: ['blue'] });
    const none = config({});
    expect(withDetectorFloor(none)).toBe(none);
  });

  it('cut a frame at the active recipe only', () => {
    const cfg = config({ recipes });
    const frame = { detections: [0.35, 0.6, 0.8].map((confidence) => ({ classId: 1, className: 'green', confidence, box: { x: 0, y: 0, w: 1, h: 1 } })) } as InspectedFrame;
    expect(underRules(frame, rulesFor(cfg, 'small')).detections.map((d) => d.confidence)).toEqual([0.35, 0.6, 0.8]);
    expect(underRules(frame, rulesFor(cfg, 'large')).detections.map((d) => d.confidence)).toEqual([]);
    // With the detector reporting what is just under its thresholds (picture capture), what a recipe cuts joins it.
    const withNear = { ...frame, near: [{ classId: 1, className: 'green', confidence: 0.2, box: { x: 0, y: 0, w: 1, h: 1 } }] } as InspectedFrame;
    expect(underRules(withNear, rulesFor(cfg, 'large')).near!.map((d) => d.confidence)).toEqual([0.35, 0.6, 0.8, 0.2]);
    expect(underRules(frame, rulesFor(cfg, 'large')).near).toBeUndefined();
  });

  it('are checked against the cameras and recipe.default', () => {
    const { problems } = validateConfig({ cameras: [{ id: 'cam1', url: 'a.mp4' }], model: { path: 'm.onnx' }, recipes: { a: { cameras: { cam9: {} } } }, recipe: { default: 'b' } });
    expect(problems.map((p) => p.path).sort()).toEqual(['recipe.default', 'recipes.a.cameras.cam9']);
  });

  it('are asked for with {recipe, requested_by, ts}', () => {
    expect(parseRecipeRequest('{"recipe":"small","requested_by":"mes","ts":"2025-03-04T05:06:07Z"}')).toEqual({ ok: true, request: { recipe: 'small', requested_by: 'mes', ts: '2025-03-04T05:06:07Z' } });
    expect(parseRecipeRequest('{"recipe":"a b"}')).toMatchObject({ ok: false, recipe: 'a b', fault: expect.stringMatching(/^recipe: expected recipe name made of/) });
    expect(parseRecipeRequest('{"name":"a"}')).toMatchObject({ ok: false });
    expect(parseRecipeRequest('{')).toMatchObject({ ok: false, fault: expect.stringMatching(/^expected JSON/) });
  });
});
