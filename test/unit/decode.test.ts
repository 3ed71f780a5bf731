import { describe, expect, it } from 'vitest';
import { decodeYolov5, decodeYolov8 } from '../../src/infer/decode.js';
import { detectLayout, describeInput } from '../../src/infer/model-shape.js';
import { iouCxcywh, nms, type Candidate } from '../../src/infer/nms.js';

/** Builds a YOLOv8 `[1, 4+nc, N]` buffer from per-anchor rows. */
function v8(anchors: Array<[number, number, number, number, ...number[]]>): { data: Float32Array; rows: number; n: number } {
  const rows = anchors[0].length;
  const n = anchors.length;
  const data = new Float32Array(rows * n);
  anchors.forEach((a, i) => a.forEach((v, r) => { data[r * n + i] = v; }));
  return { data, rows, n };
}

describe('decodeYolov8', () => {
  it('takes the best class per anchor and applies per-class thresholds', () => {
    const { data, rows, n } = v8([
      [100, 100, 20, 10, 0.9, 0.1],
      [50, 60, 8, 8, 0.2, 0.3],
      [10, 10, 4, 4, 0.05, 0.6],
    ]);
    const out = decodeYolov8(data, 0, rows, n, [0.25, 0.5]);
    expect(out).toEqual([
      { classId: 0, confidence: expect.closeTo(0.9, 6), cx: 100, cy: 100, w: 20, h: 10 },
      { classId: 1, confidence: expect.closeTo(0.6, 6), cx: 10, cy: 10, w: 4, h: 4 },
    ]);
  });

  it('reads the second image of a batch', () => {
    const a = v8([[1, 2, 3, 4, 0.9], [5, 6, 7, 8, 0.1]]);
    const b = v8([[9, 9, 9, 9, 0.1], [11, 12, 13, 14, 0.8]]);
    const data = new Float32Array([...a.data, ...b.data]);
    expect(decodeYolov8(data, 1, 5, 2, [0.5])).toEqual([{ classId: 0, confidence: expect.closeTo(0.8, 6), cx: 11, cy: 12, w: 13, h: 14 }]);
  });

  it('ignores a class whose threshold is Infinity', () => {
    const { data, rows, n } = v8([[1, 1, 1, 1, 0.99, 0.4]]);
    expect(decodeYolov8(data, 0, rows, n, [Infinity, 0.3])).toEqual([]);
  });
});

describe('decodeYolov5', () => {
  it('multiplies objectness by the class score', () => {
    const data = new Float32Array([
      100, 100, 20, 10, 0.9, 0.5, 1.0,
      50, 50, 5, 5, 0.2, 1.0, 0.0,
    ]);
    expect(decodeYolov5(data, 0, 2, 7, [0.25, 0.25])).toEqual([{ classId: 1, confidence: expect.closeTo(0.9, 6), cx: 100, cy: 100, w: 20, h: 10 }]);
  });
});

describe('nms', () => {
  const c = (classId: number, confidence: number, cx: number): Candidate => ({ classId, confidence, cx, cy: 50, w: 20, h: 20 });
  it('suppresses weaker overlapping boxes of the same class only', () => {
    const kept = nms([c(0, 0.8, 52), c(0, 0.9, 50), c(1, 0.7, 51), c(0, 0.6, 200)], 0.45);
    expect(kept.map((k) => [k.classId, k.confidence])).toEqual([[0, 0.9], [1, 0.7], [0, 0.6]]);
  });
  it('computes IoU exactly', () => {
    // two 20×20 boxes offset by 10 px: intersection 10×20 = 200, union 600
    expect(iouCxcywh(c(0, 1, 50), c(0, 1, 60))).toBeCloseTo(1 / 3, 12);
    expect(iouCxcywh(c(0, 1, 50), c(0, 1, 80))).toBe(0);
  });
  it('caps the number of detections', () => {
    const many = Array.from({ length: 10 }, (_, i) => c(0, 1 - i / 100, i * 100));
    expect(nms(many, 0.5, 3)).toHaveLength(3);
  });
});

describe('detectLayout', () => {
  it('recognises YOLOv8/YOLO11 and YOLOv5 exports by shape', () => {
    expect(detectLayout([1, 84, 8400])).toEqual({ layout: 'yolov8', classCount: 80 });
    expect(detectLayout([1, 25200, 85])).toEqual({ layout: 'yolov5', classCount: 80 });
    expect(detectLayout([1, 7, 3], 3)).toEqual({ layout: 'yolov8', classCount: 3 });
    expect(detectLayout([1, 3, 8], 3)).toEqual({ layout: 'yolov5', classCount: 3 });
  });
  it('refuses an unknown layout naming the shapes (E_MODEL_LAYOUT)', () => {
    expect(() => detectLayout([1, 6, 6, 3])).toThrow(expect.objectContaining({
      code: 'E_MODEL_LAYOUT',
      message: expect.stringContaining('but found [1, 6, 6, 3]'),
    }));
    expect(() => detectLayout([1, 10, 8400], 4)).toThrow(expect.objectContaining({
      code: 'E_MODEL_LAYOUT',
      message: expect.stringContaining('[batch, 8, anchors] (YOLOv8/YOLO11, 4 classes)'),
    }));
  });
});

describe('describeInput', () => {
  it('accepts NCHW and NHWC image batches', () => {
    expect(describeInput({ name: 'images', elemType: 'float32', shape: ['batch', 3, 640, 640] }))
      .toEqual({ layout: 'nchw', type: 'float32', width: 640, height: 640, dynamicBatch: true });
    expect(describeInput({ name: 'x', elemType: 'uint8', shape: [1, 480, 640, 3] }))
      .toEqual({ layout: 'nhwc', type: 'uint8', width: 640, height: 480, dynamicBatch: false });
  });
  it('refuses a wrong rank or channel count with E_MODEL_SHAPE', () => {
    expect(() => describeInput({ name: 'images', elemType: 'float32', shape: [3, 320, 320] })).toThrow(expect.objectContaining({
      code: 'E_MODEL_SHAPE', message: expect.stringContaining('but found rank 3 [3, 320, 320]'),
    }));
    expect(() => describeInput({ name: 'images', elemType: 'float32', shape: [1, 1, 320, 320] })).toThrow(expect.objectContaining({ code: 'E_MODEL_SHAPE' }));
    expect(() => describeInput({ name: 'images', elemType: 'int64', shape: [1, 3, 320, 320] })).toThrow(expect.objectContaining({ code: 'E_MODEL_SHAPE' }));
  });
});
