import sharp from 'sharp';
import type { Box, Picture } from '../types.js';

/** Longest side of an alert thumbnail, px. */
export const THUMBNAIL_SIZE = 160;

/** The crop around a box: the box plus a margin of 25 % of its size (at least 8 px), clamped to the frame. */
export function thumbnailRegion(box: Box, width: number, height: number): { left: number; top: number; width: number; height: number } | null {
  const mx = Math.max(8, box.w * 0.25);
  const my = Math.max(8, box.h * 0.25);
  const left = Math.max(0, Math.floor(box.x - mx));
  const top = Math.max(0, Math.floor(box.y - my));
  const right = Math.min(width, Math.ceil(box.x + box.w + mx));
  const bottom = Math.min(height, Math.ceil(box.y + box.h + my));
  if (right - left < 1 || bottom - top < 1) return null;
  return { left, top, width: right - left, height: bottom - top };
}

/**
 * A small JPEG of an alert's box cut from a camera's full-size picture, or
 * null when the box lies outside it. The caller picks the picture: the one of
 * the frame the box comes from, else the nearest. The crop is copied out
 * before this returns its promise, so the caller may give the picture back at
 * once (sharp reads its input later, on its own threads).
 */
export function alertThumbnail(picture: Picture, box: Box): Promise<Buffer | null> {
  const region = thumbnailRegion(box, picture.width, picture.height);
  if (!region) return Promise.resolve(null);
  const crop = cropRgb(picture.rgb, picture.width, region);
  return sharp(crop, { raw: { width: region.width, height: region.height, channels: 3 } })
    .resize({ width: THUMBNAIL_SIZE, height: THUMBNAIL_SIZE, fit: 'inside' })
    .jpeg({ quality: 75 })
    .toBuffer();
}

/** The pixels of `region` of a packed RGB24 image, copied row by row. */
export function cropRgb(rgb: Buffer, width: number, region: { left: number; top: number; width: number; height: number }): Buffer {
  const rowBytes = region.width * 3;
  const out = Buffer.allocUnsafe(rowBytes * region.height);
  for (let y = 0; y < region.height; y++) {
    const from = ((region.top + y) * width + region.left) * 3;
    rgb.copy(out, y * rowBytes, from, from + rowBytes);
  }
  return out;
}
