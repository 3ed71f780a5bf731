// Letterbox maths shared by the drawing code and the tests: the frame is
// scaled to fit the canvas (keeping its aspect) and centred; boxes in source
// pixels go through the very same transform.

/**
 * @param {number} srcW source frame width, px
 * @param {number} srcH source frame height, px
 * @param {number} dstW canvas width, px
 * @param {number} dstH canvas height, px
 * @returns {{ scale: number, x: number, y: number, w: number, h: number }} where the frame lands on the canvas
 */
export function fitFrame(srcW, srcH, dstW, dstH) {
  if (!(srcW > 0 && srcH > 0 && dstW > 0 && dstH > 0)) return { scale: 0, x: 0, y: 0, w: 0, h: 0 };
  const scale = Math.min(dstW / srcW, dstH / srcH);
  const w = srcW * scale;
  const h = srcH * scale;
  return { scale, x: (dstW - w) / 2, y: (dstH - h) / 2, w, h };
}

/**
 * A source-pixel box mapped onto the canvas through `fit`.
 * @param {{ x: number, y: number, w: number, h: number }} box
 * @param {{ scale: number, x: number, y: number }} fit
 */
export function mapBox(box, fit) {
  return { x: fit.x + box.x * fit.scale, y: fit.y + box.y * fit.scale, w: box.w * fit.scale, h: box.h * fit.scale };
}

/**
 * The inverse of mapBox: a rectangle on the canvas back to whole source pixels,
 * clipped to the frame (a box drawn over the letterbox bars ends at the picture's edge).
 * @param {{ x: number, y: number, w: number, h: number }} rect canvas pixels
 * @param {{ scale: number, x: number, y: number }} fit
 * @param {number} srcW source frame width, px
 * @param {number} srcH source frame height, px
 */
export function unmapBox(rect, fit, srcW, srcH) {
  if (!(fit.scale > 0)) return { x: 0, y: 0, w: 0, h: 0 };
  const clip = (v, max) => Math.min(max, Math.max(0, Math.round(v)));
  const x0 = clip((rect.x - fit.x) / fit.scale, srcW);
  const y0 = clip((rect.y - fit.y) / fit.scale, srcH);
  const x1 = clip((rect.x + rect.w - fit.x) / fit.scale, srcW);
  const y1 = clip((rect.y + rect.h - fit.y) / fit.scale, srcH);
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}
