/** A candidate in model-input pixels, before the letterbox is undone. */
export interface Candidate {
  classId: number;
  confidence: number;
  cx: number;
  cy: number;
  w: number;
  h: number;
}

export function iouCxcywh(a: Candidate, b: Candidate): number {
  const ax1 = a.cx - a.w / 2, ax2 = a.cx + a.w / 2, ay1 = a.cy - a.h / 2, ay2 = a.cy + a.h / 2;
  const bx1 = b.cx - b.w / 2, bx2 = b.cx + b.w / 2, by1 = b.cy - b.h / 2, by2 = b.cy + b.h / 2;
  const iw = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  const ih = Math.min(ay2, by2) - Math.max(ay1, by1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Class-aware greedy non-maximum suppression: a box suppresses weaker boxes of
 * the same class overlapping it by more than `iouThreshold`. Returns at most
 * `maxDetections`, strongest first.
 */
export function nms(candidates: Candidate[], iouThreshold: number, maxDetections = 300): Candidate[] {
  const sorted = [...candidates].sort((a, b) => b.confidence - a.confidence);
  const kept: Candidate[] = [];
  for (const c of sorted) {
    let suppressed = false;
    for (const k of kept) {
      if (k.classId === c.classId && iouCxcywh(k, c) > iouThreshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) {
      kept.push(c);
      if (kept.length >= maxDetections) break;
    }
  }
  return kept;
}
