/**
 * Writes a packed RGB24 image into a model input tensor at batch index `index`.
 * Layouts follow the model's declared input: NCHW float32 0..1 (Ultralytics
 * exports), NHWC float32, or uint8 in either layout when normalisation is in the graph.
 */
export type TensorLayout = 'nchw' | 'nhwc';
export type TensorType = 'float32' | 'uint8';

export function writeImageToTensor(
  rgb: Uint8Array,
  width: number,
  height: number,
  target: Float32Array | Uint8Array,
  index: number,
  layout: TensorLayout,
): void {
  const plane = width * height;
  const base = index * plane * 3;
  if (target instanceof Uint8Array) {
    if (layout === 'nhwc') {
      target.set(rgb.subarray(0, plane * 3), base);
      return;
    }
    for (let p = 0, i = 0; p < plane; p++, i += 3) {
      target[base + p] = rgb[i];
      target[base + plane + p] = rgb[i + 1];
      target[base + 2 * plane + p] = rgb[i + 2];
    }
    return;
  }
  const k = 1 / 255;
  if (layout === 'nhwc') {
    for (let i = 0; i < plane * 3; i++) target[base + i] = rgb[i] * k;
    return;
  }
  for (let p = 0, i = 0; p < plane; p++, i += 3) {
    target[base + p] = rgb[i] * k;
    target[base + plane + p] = rgb[i + 1] * k;
    target[base + 2 * plane + p] = rgb[i + 2] * k;
  }
}
