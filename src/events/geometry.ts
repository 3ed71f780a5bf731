import type { Box } from '../types.js';

/** Intersection over union of two boxes; 0 when they do not touch or one is empty. */
export function iou(a: Box, b: Box): number {
  const ix = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const iy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Distance between the centres of two boxes in units of their mean size per
 * axis: 1 means "one box apart". Used when the boxes no longer overlap at all
 * (a fast part, or a frame dropped upstream) to still recognise the same defect.
 */
export function centreDistance(a: Box, b: Box): number {
  const w = (a.w + b.w) / 2;
  const h = (a.h + b.h) / 2;
  if (w <= 0 || h <= 0) return Infinity;
  const dx = (a.x + a.w / 2 - (b.x + b.w / 2)) / w;
  const dy = (a.y + a.h / 2 - (b.y + b.h / 2)) / h;
  return Math.hypot(dx, dy);
}

/** Ratio of the larger to the smaller area (≥ 1); Infinity for an empty box. */
export function areaRatio(a: Box, b: Box): number {
  const small = Math.min(a.w * a.h, b.w * b.h);
  const large = Math.max(a.w * a.h, b.w * b.h);
  return small > 0 ? large / small : Infinity;
}
