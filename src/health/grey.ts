import { computeLetterbox } from '../preprocess/letterbox.js';

/** A small grey picture, row-major, values 0–1: what every health measure reads. */
export interface GreyImage {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/** Width of the grey copy: fine enough to see focus and a shift of a few % of the width, small enough to cost well under a ms. */
export const GREY_WIDTH = 80;

/**
 * Pixels trimmed from each side of the content region: ffmpeg's bilinear
 * scale mixes the edge rows and columns with the grey padding.
 */
const EDGE = 1;

export interface RgbView {
  readonly rgb: Buffer;
  readonly width: number;
  readonly height: number;
}

/** The part of the model input that shows the picture (not the letterbox padding). */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where a `srcWidth × srcHeight` frame lies in its letterboxed model input, less the blended edge. */
export function contentRegion(input: { width: number; height: number }, srcWidth: number, srcHeight: number): Region {
  const lb = computeLetterbox(srcWidth, srcHeight, input.width, input.height);
  const trimX = lb.scaledWidth > 4 * EDGE ? EDGE : 0;
  const trimY = lb.scaledHeight > 4 * EDGE ? EDGE : 0;
  return { left: lb.left + trimX, top: lb.top + trimY, width: lb.scaledWidth - 2 * trimX, height: lb.scaledHeight - 2 * trimY };
}

/** For each of `n` source positions, the output bin it averages into (`outN` bins of equal share). */
function bins(n: number, outN: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(outN - 1, Math.floor((i * outN) / n));
  return out;
}

/**
 * Area-averaged grey copy (BT.601 luma) of `region` of a packed RGB24 picture,
 * `targetWidth` wide (less when the region is narrower), aspect kept. Reads
 * the pixels once, synchronously: the caller may hand the buffer back at once.
 */
export function greyCopy(view: RgbView, region: Region, targetWidth = GREY_WIDTH): GreyImage {
  checkRegion(view, region);
  const width = Math.max(1, Math.min(targetWidth, region.width));
  const height = Math.max(1, Math.min(region.height, Math.round((region.height * width) / region.width)));
  const xBin = bins(region.width, width);
  const yBin = bins(region.height, height);
  const sums = new Float64Array(width * height);
  const counts = new Uint32Array(width * height);
  const { rgb } = view;
  for (let y = 0; y < region.height; y++) {
    const rowOut = yBin[y] * width;
    let i = ((region.top + y) * view.width + region.left) * 3;
    for (let x = 0; x < region.width; x++, i += 3) {
      const o = rowOut + xBin[x];
      sums[o] += 0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2];
      counts[o]++;
    }
  }
  const data = new Float32Array(width * height);
  for (let o = 0; o < data.length; o++) data[o] = sums[o] / (counts[o] * 255);
  return { width, height, data };
}

function checkRegion(view: RgbView, r: Region): void {
  const fits = r.left >= 0 && r.top >= 0 && r.width >= 1 && r.height >= 1 && r.left + r.width <= view.width && r.top + r.height <= view.height;
  if (!fits) {
    throw new RangeError(`Expected a region inside the ${view.width}×${view.height} picture but received ${r.width}×${r.height} at (${r.left}, ${r.top})`);
  }
  if (view.rgb.length < view.width * view.height * 3) {
    throw new RangeError(`Expected ${view.width * view.height * 3} bytes of RGB24 for ${view.width}×${view.height} but received ${view.rgb.length}`);
  }
}
