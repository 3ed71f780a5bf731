import type { OutputLayout } from '../types.js';
import type { Candidate } from './nms.js';

/** Per-class minimum confidence (index = class id); a class at Infinity is ignored. */
export type Thresholds = Float32Array | number[];

/**
 * Candidates of image `b` of a YOLOv8/YOLO11 output `[B, 4+nc, N]`: rows cx, cy,
 * w, h in input pixels, then one (already sigmoid) score per class. Column-major
 * per anchor, so a class's scores are contiguous and the scan is cache-friendly.
 */
export function decodeYolov8(data: Float32Array, b: number, rows: number, anchors: number, thresholds: Thresholds): Candidate[] {
  const nc = rows - 4;
  const base = b * rows * anchors;
  const out: Candidate[] = [];
  // Track the best class per anchor with two small arrays instead of N objects.
  const bestScore = new Float32Array(anchors).fill(-1);
  const bestClass = new Int32Array(anchors);
  for (let c = 0; c < nc; c++) {
    const row = base + (4 + c) * anchors;
    for (let i = 0; i < anchors; i++) {
      const s = data[row + i];
      if (s > bestScore[i]) {
        bestScore[i] = s;
        bestClass[i] = c;
      }
    }
  }
  for (let i = 0; i < anchors; i++) {
    const c = bestClass[i];
    const s = bestScore[i];
    if (s < thresholds[c] || !(s > 0)) continue;
    out.push({
      classId: c,
      confidence: s,
      cx: data[base + i],
      cy: data[base + anchors + i],
      w: data[base + 2 * anchors + i],
      h: data[base + 3 * anchors + i],
    });
  }
  return out;
}

/**
 * Candidates of image `b` of a YOLOv5 output `[B, N, 5+nc]`: columns cx, cy, w, h,
 * objectness, class scores; confidence = objectness × class score.
 */
export function decodeYolov5(data: Float32Array, b: number, anchors: number, cols: number, thresholds: Thresholds): Candidate[] {
  const nc = cols - 5;
  const out: Candidate[] = [];
  let minThreshold = Infinity;
  for (let c = 0; c < nc; c++) minThreshold = Math.min(minThreshold, thresholds[c]);
  for (let i = 0; i < anchors; i++) {
    const o = (b * anchors + i) * cols;
    const obj = data[o + 4];
    if (obj < minThreshold) continue; // obj × cls ≤ obj
    let best = 0;
    let cls = -1;
    for (let c = 0; c < nc; c++) {
      const s = data[o + 5 + c];
      if (s > best) {
        best = s;
        cls = c;
      }
    }
    const conf = obj * best;
    if (cls < 0 || conf < thresholds[cls] || !(conf > 0)) continue;
    out.push({ classId: cls, confidence: conf, cx: data[o], cy: data[o + 1], w: data[o + 2], h: data[o + 3] });
  }
  return out;
}

export function decodeOutput(layout: OutputLayout, data: Float32Array, b: number, dims: readonly number[], thresholds: Thresholds): Candidate[] {
  return layout === 'yolov8'
    ? decodeYolov8(data, b, dims[1], dims[2], thresholds)
    : decodeYolov5(data, b, dims[1], dims[2], thresholds);
}
