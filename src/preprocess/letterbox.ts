import type { Box } from '../types.js';

/**
 * The letterbox transform between a source frame and the model input, in the
 * Ultralytics convention (`LetterBox` in ultralytics/data/augment.py): keep the
 * aspect ratio, scale = min(W_in / W, H_in / H), centre the image and pad the
 * rest with grey 114. Kept per frame so boxes map back to source pixels exactly.
 */
export interface Letterbox {
  srcWidth: number;
  srcHeight: number;
  dstWidth: number;
  dstHeight: number;
  /** Size of the resized image inside the padded canvas. */
  scaledWidth: number;
  scaledHeight: number;
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export const LETTERBOX_PAD = 114;

export function computeLetterbox(srcWidth: number, srcHeight: number, dstWidth: number, dstHeight: number): Letterbox {
  const scale = Math.min(dstWidth / srcWidth, dstHeight / srcHeight);
  const scaledWidth = Math.round(srcWidth * scale);
  const scaledHeight = Math.round(srcHeight * scale);
  const padX = (dstWidth - scaledWidth) / 2;
  const padY = (dstHeight - scaledHeight) / 2;
  // Ultralytics rounds (pad ∓ 0.1) so an odd remainder puts the extra pixel right/bottom.
  const left = Math.max(0, Math.round(padX - 0.1));
  const top = Math.max(0, Math.round(padY - 0.1));
  return {
    srcWidth, srcHeight, dstWidth, dstHeight, scaledWidth, scaledHeight,
    left, top, right: dstWidth - scaledWidth - left, bottom: dstHeight - scaledHeight - top,
  };
}

/**
 * Maps a box from model-input pixels (centre x, centre y, width, height) back to
 * the source frame as a top-left box, clipped to the frame. The per-axis scale is
 * the rounded resize actually performed, so the round trip is exact.
 */
export function boxToSource(lb: Letterbox, cx: number, cy: number, w: number, h: number): Box {
  const sx = lb.scaledWidth / lb.srcWidth;
  const sy = lb.scaledHeight / lb.srcHeight;
  const x1 = clamp((cx - w / 2 - lb.left) / sx, 0, lb.srcWidth);
  const y1 = clamp((cy - h / 2 - lb.top) / sy, 0, lb.srcHeight);
  const x2 = clamp((cx + w / 2 - lb.left) / sx, 0, lb.srcWidth);
  const y2 = clamp((cy + h / 2 - lb.top) / sy, 0, lb.srcHeight);
  return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
}

/** The inverse of boxToSource, for tests and for drawing. Returns centre/size in input pixels. */
export function boxToInput(lb: Letterbox, box: Box): { cx: number; cy: number; w: number; h: number } {
  const sx = lb.scaledWidth / lb.srcWidth;
  const sy = lb.scaledHeight / lb.srcHeight;
  return {
    cx: (box.x + box.w / 2) * sx + lb.left,
    cy: (box.y + box.h / 2) * sy + lb.top,
    w: box.w * sx,
    h: box.h * sy,
  };
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
