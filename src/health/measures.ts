import type { GreyImage } from './grey.js';

/*
 * The per-sample measures, pure functions of the grey copy (values 0–1).
 */

/** Mean brightness, 0–1. */
export function brightness(img: GreyImage): number {
  let sum = 0;
  for (let i = 0; i < img.data.length; i++) sum += img.data[i];
  return sum / img.data.length;
}

/** Contrast: the standard deviation of the pixels, 0–1 (near 0: a uniform picture). */
export function contrast(img: GreyImage, mean = brightness(img)): number {
  let sum = 0;
  for (let i = 0; i < img.data.length; i++) {
    const d = img.data[i] - mean;
    sum += d * d;
  }
  return Math.sqrt(sum / img.data.length);
}

/**
 * Sharpness: the variance of the 4-neighbour Laplacian over the inner pixels
 * (Pech-Pacheco et al., "Diatom autofocusing in brightfield microscopy", 2000):
 * a picture out of focus loses the fine detail the Laplacian responds to.
 * Reported ×1000, so that a sharp picture reads in single or double digits.
 */
export function sharpness(img: GreyImage): number {
  const { width: w, height: h, data } = img;
  if (w < 3 || h < 3) return 0;
  let sum = 0;
  let sumSq = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1, i = y * w + 1; x < w - 1; x++, i++) {
      const lap = data[i - 1] + data[i + 1] + data[i - w] + data[i + w] - 4 * data[i];
      sum += lap;
      sumSq += lap * lap;
    }
  }
  const n = (w - 2) * (h - 2);
  const mean = sum / n;
  return (sumSq / n - mean * mean) * 1000;
}

/** Change: the mean absolute difference of two samples of the same size, 0–1 (0: bit-identical). */
export function change(a: GreyImage, b: GreyImage): number {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`Expected two grey images of the same size but received ${a.width}×${a.height} and ${b.width}×${b.height}`);
  }
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}
