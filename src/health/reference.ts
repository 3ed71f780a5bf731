import type { GreyImage } from './grey.js';

/*
 * The learned reference for `moved`: what the static part of the scene looks
 * like. On a belt, parts pass through much of the picture, so the reference is
 * the per-pixel temporal median of the learning samples, and only pixels that
 * stayed stable while learning (frame, fixtures, the belt's rails) are compared.
 */

/** Most samples kept while learning; beyond it every k-th is kept (memory stays a few MB whatever learn_seconds is). */
export const MAX_LEARN_SAMPLES = 150;
/** A pixel whose 10th–90th percentile spread while learning stays below this (0–1) is static. */
export const STABLE_SPREAD = 0.06;
/** Fewer static pixels than this share of the picture: the scene has no static part to follow. */
export const MIN_STATIC_SHARE = 0.05;
/** Static pixels flatter than this (std dev, 0–1): nothing to lock a shift onto. */
export const MIN_STATIC_TEXTURE = 0.02;
/**
 * An axis along which the static part looks the same 2 grey pixels further
 * (self-correlation above this) cannot be measured: rails that run along the
 * belt say nothing about a shift along it (the aperture problem).
 */
export const SELF_MATCH_FLAT = 0.97;
/** Search radius in grey pixels: ±8 of 80 is ±10 % of the width; a larger knock is a lost match. */
export const SEARCH_RADIUS = 8;

export interface Reference {
  readonly width: number;
  readonly height: number;
  readonly median: Float32Array;
  /** Indices of the static pixels. */
  readonly stable: Int32Array;
  /** Whether the static part pins the scene down along x and along y. */
  readonly axes: { readonly x: boolean; readonly y: boolean };
}

/** Why no reference could be built; `moved` is then not judged until a re-learn. */
/** `no_texture`: the static part is flat, or looks the same shifted along both axes. */
export type NoReference = 'no_samples' | 'no_static_part' | 'no_texture';

export interface Match {
  /** Offset of the scene against the reference, grey pixels (sub-pixel). */
  dx: number;
  dy: number;
  /** Normalised cross-correlation at that offset, −1…1 (1: the same picture). */
  quality: number;
}

function percentile(sorted: Float32Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))];
}

/** Builds the reference from learning samples (all of one size), or says why none can be built. */
export function buildReference(samples: readonly GreyImage[]): Reference | NoReference {
  if (samples.length === 0) return 'no_samples';
  const { width, height } = samples[0];
  const n = width * height;
  const median = new Float32Array(n);
  const column = new Float32Array(samples.length);
  const stable: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < samples.length; s++) column[s] = samples[s].data[i];
    column.sort();
    median[i] = percentile(column, 0.5);
    if (percentile(column, 0.9) - percentile(column, 0.1) < STABLE_SPREAD) stable.push(i);
  }
  if (stable.length < Math.max(16, MIN_STATIC_SHARE * n)) return 'no_static_part';
  if (stdOf(median, stable) < MIN_STATIC_TEXTURE) return 'no_texture';
  const ref = { width, height, median, stable: Int32Array.from(stable), axes: { x: true, y: true } };
  const self = { width, height, data: median };
  const pins = (dx: number, dy: number) => Math.max(correlationAt(ref, self, dx, dy), correlationAt(ref, self, -dx, -dy)) < SELF_MATCH_FLAT;
  const axes = { x: pins(2, 0), y: pins(0, 2) };
  return axes.x || axes.y ? { ...ref, axes } : 'no_texture';
}

function stdOf(values: Float32Array, at: readonly number[]): number {
  let sum = 0;
  let sumSq = 0;
  for (const i of at) {
    sum += values[i];
    sumSq += values[i] * values[i];
  }
  const mean = sum / at.length;
  return Math.sqrt(Math.max(0, sumSq / at.length - mean * mean));
}

/** NCC of the reference's static pixels against `img` moved by (dx, dy); NaN when too few pixels overlap. */
export function correlationAt(ref: Reference, img: GreyImage, dx: number, dy: number): number {
  const { width: w, height: h } = ref;
  let n = 0;
  let sr = 0, sc = 0, srr = 0, scc = 0, src = 0;
  for (let k = 0; k < ref.stable.length; k++) {
    const i = ref.stable[k];
    const x = (i % w) + dx;
    const y = ((i / w) | 0) + dy;
    if (x < 0 || y < 0 || x >= w || y >= h) continue;
    const r = ref.median[i];
    const c = img.data[y * w + x];
    n++;
    sr += r; sc += c; srr += r * r; scc += c * c; src += r * c;
  }
  if (n < ref.stable.length / 2) return NaN;
  const cov = src - (sr * sc) / n;
  const vr = srr - (sr * sr) / n;
  const vc = scc - (sc * sc) / n;
  return vr <= 0 || vc <= 0 ? 0 : cov / Math.sqrt(vr * vc);
}

/** Vertex of the parabola through (−1, a), (0, b), (1, c): the sub-pixel place of a peak at 0. */
function peakOffset(a: number, b: number, c: number): number {
  const den = a - 2 * b + c;
  if (!Number.isFinite(den) || den >= 0) return 0;
  return Math.max(-0.5, Math.min(0.5, (a - c) / (2 * den)));
}

/**
 * Finds where the static part of the reference lies in `img`: the offset
 * within ±`radius` grey pixels with the highest NCC (exhaustive, so a busy
 * belt never leads a coarse search astray), refined to sub-pixel. Along an
 * axis the reference cannot pin down, the offset is 0.
 */
export function matchReference(ref: Reference, img: GreyImage, radius = SEARCH_RADIUS): Match {
  if (img.width !== ref.width || img.height !== ref.height) {
    throw new RangeError(`Expected a ${ref.width}×${ref.height} grey image to match the reference but received ${img.width}×${img.height}`);
  }
  let best = { dx: 0, dy: 0, quality: -Infinity };
  const rx = ref.axes.x ? radius : 0;
  const ry = ref.axes.y ? radius : 0;
  for (let dy = -ry; dy <= ry; dy++) {
    for (let dx = -rx; dx <= rx; dx++) {
      const q = correlationAt(ref, img, dx, dy);
      if (q > best.quality) best = { dx, dy, quality: q };
    }
  }
  if (best.quality === -Infinity) return { dx: 0, dy: 0, quality: 0 };
  const { dx, dy, quality } = best;
  const fx = rx === 0 ? 0 : peakOffset(correlationAt(ref, img, dx - 1, dy), quality, correlationAt(ref, img, dx + 1, dy));
  const fy = ry === 0 ? 0 : peakOffset(correlationAt(ref, img, dx, dy - 1), quality, correlationAt(ref, img, dx, dy + 1));
  return { dx: dx + fx, dy: dy + fy, quality };
}
