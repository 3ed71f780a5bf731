import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { isLinesightError } from '../../src/errors.js';
import type { Detector } from '../../src/infer/detector.js';
import {
  averagePrecision, evaluateDataset, evaluateImages, formatEvaluation, IOU_THRESHOLDS, iou, matchDetections,
  type GroundTruth, type ScoredBox,
} from '../../src/infer/evaluate.js';
import type { Box, Detection, Frame, ModelInfo } from '../../src/types.js';

const box = (x: number, y: number, w: number, h: number): Box => ({ x, y, w, h });
const det = (classId: number, confidence: number, b: Box): ScoredBox => ({ classId, confidence, box: b });
const gt = (classId: number, b: Box): GroundTruth => ({ classId, box: b });

describe('iou', () => {
  it('is intersection over union of top-left boxes', () => {
    expect(iou(box(0, 0, 10, 10), box(0, 0, 10, 7))).toBe(0.7);
    expect(iou(box(0, 0, 10, 10), box(5, 0, 10, 10))).toBeCloseTo(50 / 150, 12);
    expect(iou(box(0, 0, 10, 10), box(10, 0, 10, 10))).toBe(0);
  });
});

describe('matchDetections', () => {
  it('lets the most confident detection claim a box; a duplicate and a wrong class are false positives', () => {
    const truths = [gt(0, box(0, 0, 10, 10)), gt(1, box(100, 100, 20, 20))];
    const matches = matchDetections([
      det(0, 0.6, box(0, 0, 10, 10)), // duplicate of the better one below
      det(0, 0.9, box(1, 0, 10, 10)),
      det(0, 0.8, box(100, 100, 20, 20)), // right place, wrong class
      det(1, 0.7, box(100, 100, 20, 20)),
    ], truths, 0.5);
    expect(matches).toEqual([
      { classId: 0, confidence: 0.9, tp: true, iou: 90 / 110 },
      { classId: 0, confidence: 0.8, tp: false, iou: 0 },
      { classId: 1, confidence: 0.7, tp: true, iou: 1 },
      { classId: 0, confidence: 0.6, tp: false, iou: 1 },
    ]);
  });

  it('claims the best-overlapping unclaimed box, at or above the threshold', () => {
    const truths = [gt(0, box(0, 0, 10, 10)), gt(0, box(4, 0, 10, 10))];
    const m = matchDetections([det(0, 0.9, box(3, 0, 10, 10)), det(0, 0.8, box(0, 0, 10, 10))], truths, 0.5);
    // 0.9 overlaps the second box more (90/110 vs 70/130) and takes it; 0.8 then takes the first.
    expect(m.map((x) => x.tp)).toEqual([true, true]);
    expect(m[0].iou).toBeCloseTo(90 / 110, 12);
    expect(matchDetections([det(0, 0.9, box(0, 0, 10, 7))], [gt(0, box(0, 0, 10, 10))], 0.7)[0].tp).toBe(true);
    expect(matchDetections([det(0, 0.9, box(0, 0, 10, 7))], [gt(0, box(0, 0, 10, 10))], 0.75)[0].tp).toBe(false);
  });
});

describe('averagePrecision', () => {
  it('integrates the precision envelope at every recall step (all-point)', () => {
    // recall 1/3, 1/3, 2/3 with precision 1, 1/2, 2/3 → envelope 1, 2/3, 2/3 → AP = 1/3 + 2/9
    const ap = averagePrecision([{ confidence: 0.9, tp: true }, { confidence: 0.8, tp: false }, { confidence: 0.7, tp: true }], 3);
    expect(ap).toBeCloseTo(5 / 9, 12);
  });

  it('sorts by confidence itself', () => {
    // the same matches as above, shuffled
    const ap = averagePrecision([{ confidence: 0.7, tp: true }, { confidence: 0.9, tp: true }, { confidence: 0.8, tp: false }], 3);
    expect(ap).toBeCloseTo(5 / 9, 12);
  });

  it('is 1 for a perfect ranking, 0 without detections, NaN without ground truth', () => {
    expect(averagePrecision([{ confidence: 0.9, tp: true }, { confidence: 0.5, tp: true }, { confidence: 0.1, tp: false }], 2)).toBe(1);
    expect(averagePrecision([], 4)).toBe(0);
    expect(averagePrecision([{ confidence: 0.9, tp: false }], 0)).toBeNaN();
  });
});

describe('evaluateImages', () => {
  it('averages AP over the ten IoU thresholds and the classes that have ground truth', () => {
    expect(IOU_THRESHOLDS).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]);
    const r = evaluateImages([
      // class 0: IoU exactly 0.7 → a hit at 0.50 … 0.70 (5 of 10 thresholds)
      { truths: [gt(0, box(0, 0, 10, 10))], detections: [det(0, 0.9, box(0, 0, 10, 7))] },
      // class 1: a perfect box, and one missed box → AP 0.5 at every threshold
      { truths: [gt(1, box(50, 50, 10, 10)), gt(1, box(80, 80, 10, 10))], detections: [det(1, 0.3, box(50, 50, 10, 10)), det(1, 0.2, box(0, 60, 5, 5))] },
    ], ['a', 'b', 'c'], 0.25);
    expect(r.images).toBe(2);
    expect(r.truths).toBe(3);
    expect(r.classes[0]).toMatchObject({ className: 'a', truths: 1, detections: 1, precision: 1, recall: 1, ap50: 1, ap50_95: 0.5 });
    expect(r.classes[1]).toMatchObject({ className: 'b', truths: 2, detections: 1, precision: 1, recall: 0.5, ap50: 0.5, ap50_95: 0.5 });
    expect(r.classes[2]).toMatchObject({ className: 'c', truths: 0, detections: 0, ap50: null, ap50_95: null });
    expect(r.map50).toBe(0.75);
    expect(r.map50_95).toBe(0.5);
  });
});

describe('formatEvaluation', () => {
  it('prints a row per class and ends with mAP50=<value>', () => {
    const r = evaluateImages([{ truths: [gt(0, box(0, 0, 10, 10))], detections: [det(0, 0.9, box(0, 0, 10, 10))] }], ['scratch', 'dent'], 0.25);
    const text = formatEvaluation(r);
    const lines = text.split('\n');
    expect(lines.at(-1)).toBe('mAP50=1.0000');
    expect(lines.at(-2)).toBe('mAP50-95=1.0000');
    expect(text).toMatch(/^scratch\s+1\s+1\s+1\.000\s+1\.000\s+1\.000\s+1\.000$/m);
    expect(text).toMatch(/^dent\s+0\s+0\s+0\.000\s+0\.000\s+-\s+-$/m);
  });
});

describe('evaluateDataset', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A detector that reports fixed boxes per frame size, in its own class order. */
  function fakeDetector(answer: (frame: Frame) => Detection[]): Detector & { calls: number[] } {
    const calls: number[] = [];
    const info = { name: 'fake', version: '0', inputWidth: 320, inputHeight: 320, provider: 'cpu', classNames: ['hole', 'scratch'] } as ModelInfo;
    return {
      info, calls,
      async detect(frames) {
        calls.push(frames.length);
        // What a letterboxing camera hands on: ffmpeg's model input at the detector's size, no full-size pixels.
        for (const f of frames) expect([f.input.width, f.input.height, f.input.rgb.length, f.pictured]).toEqual([320, 320, 320 * 320 * 3, false]);
        return frames.map(answer);
      },
      async close() {},
    };
  }

  async function dataset(): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-eval-'));
    dirs.push(dir);
    // RGBA PNGs on purpose: the evaluator must drop alpha.
    await sharp({ create: { width: 64, height: 36, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 1 } } }).png().toFile(join(dir, 'a.png'));
    await sharp({ create: { width: 48, height: 48, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(join(dir, 'b.png'));
    await sharp({ create: { width: 32, height: 16, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(join(dir, 'c.png'));
    writeFileSync(join(dir, 'labels.json'), JSON.stringify({
      classes: ['scratch', 'dent', 'crack', 'hole'],
      images: [
        { file: 'a.png', width: 64, height: 36, boxes: [{ class: 0, x: 4, y: 4, w: 20, h: 10 }, { class: 3, x: 40, y: 10, w: 10, h: 10 }] },
        { file: 'b.png', width: 48, height: 48, boxes: [{ class: 3, x: 0, y: 0, w: 8, h: 8 }] },
        { file: 'c.png', width: 32, height: 16, boxes: [] },
      ],
    }));
    return dir;
  }

  it('reads labels and images, maps classes by name and scores the detector', async () => {
    const dir = await dataset();
    const detector = fakeDetector((f) => {
      if (f.width === 64) {
        return [
          { classId: 1, className: 'scratch', confidence: 0.8, box: box(4, 4, 20, 10) },
          { classId: 0, className: 'hole', confidence: 0.6, box: box(40, 10, 10, 10) },
        ];
      }
      if (f.width === 32) return [{ classId: 0, className: 'hole', confidence: 0.5, box: box(1, 1, 4, 4) }];
      return [];
    });
    const r = await evaluateDataset(detector, dir, { threshold: 0.25, batch: 2 });
    expect(detector.calls).toEqual([2, 1]);
    expect(r.images).toBe(3);
    expect(r.classes.map((c) => c.truths)).toEqual([1, 0, 0, 2]);
    expect(r.classes[0]).toMatchObject({ className: 'scratch', ap50: 1, precision: 1, recall: 1 });
    // hole: a hit at 0.6, a false positive at 0.5, one of two boxes missed → AP 0.5
    expect(r.classes[3]).toMatchObject({ className: 'hole', ap50: 0.5, precision: 0.5, recall: 0.5, detections: 2 });
    expect(r.map50).toBe(0.75);
    expect(r.model).toMatchObject({ name: 'fake', inputWidth: 320, provider: 'cpu' });
    expect(formatEvaluation(r).split('\n').at(-1)).toBe('mAP50=0.7500');
  });

  it('rejects a labels.json with a bad box with E_ARGUMENT naming the field', async () => {
    const dir = await dataset();
    writeFileSync(join(dir, 'labels.json'), JSON.stringify({ classes: ['scratch'], images: [{ file: 'a.png', width: 64, height: 36, boxes: [{ class: 0, x: 1, y: 2, w: 'wide', h: 3 }] }] }));
    const err = await evaluateDataset(fakeDetector(() => []), dir).catch((e: unknown) => e);
    expect(isLinesightError(err, 'E_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain('images[0].boxes[0].w to be a number');
  });

  it('rejects an image whose size differs from labels.json with E_FRAME_SIZE', async () => {
    const dir = await dataset();
    writeFileSync(join(dir, 'labels.json'), JSON.stringify({ classes: ['scratch'], images: [{ file: 'b.png', width: 64, height: 48, boxes: [] }] }));
    const err = await evaluateDataset(fakeDetector(() => []), dir).catch((e: unknown) => e);
    expect(isLinesightError(err, 'E_FRAME_SIZE')).toBe(true);
  });
});
