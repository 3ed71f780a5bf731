import { LinesightError } from '../errors.js';

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

export type TensorData = Float32Array | Uint8Array;

/** The model input a batch of packed RGB24 images is written into. */
export interface TensorInput {
  /** The model's input name. */
  name: string;
  type: TensorType;
  layout: TensorLayout;
  width: number;
  height: number;
}

/** Dims of a batch of `batch` images in the input's layout. */
export function tensorDims(input: TensorInput, batch: number): number[] {
  return input.layout === 'nchw' ? [batch, 3, input.height, input.width] : [batch, input.height, input.width, 3];
}

/**
 * The input tensor of one call: `images` (packed RGB24 at the input's size) at
 * batch indices 0…, the letterbox grey (114) in the slots after them. Writes
 * into `reuse` when it is of the right type and length (a session's own buffer,
 * kept between calls: no 1.2 MB allocation per 320×320 float frame), else into
 * a new array.
 */
export function fillTensor(input: TensorInput, images: readonly Uint8Array[], batch: number, reuse?: TensorData): TensorData {
  const plane = input.width * input.height * 3;
  const length = plane * batch;
  if (images.length > batch) {
    throw new LinesightError('E_ARGUMENT', `Expected at most ${batch} images for a batch of ${batch} but received ${images.length}`);
  }
  const fits = reuse !== undefined && reuse.length === length && (input.type === 'uint8' ? reuse instanceof Uint8Array : reuse instanceof Float32Array);
  const data = fits ? reuse : input.type === 'uint8' ? new Uint8Array(length) : new Float32Array(length);
  images.forEach((rgb, i) => {
    if (rgb.length !== plane) {
      throw new LinesightError('E_FRAME_SIZE', `Expected ${plane} bytes for a ${input.width}×${input.height} RGB24 image but received ${rgb.length}`);
    }
    writeImageToTensor(rgb, input.width, input.height, data, i, input.layout);
  });
  if (images.length < batch) data.fill(input.type === 'uint8' ? 114 : 114 / 255, images.length * plane);
  return data;
}

/**
 * A session's input buffers, kept between calls: one per batch size (batch_max
 * of them at most). A call takes the one of its size (a call running at the same
 * time finds none and allocates its own) and gives it back when the session is
 * done with it.
 */
export class TensorStore {
  private readonly spare = new Map<number, TensorData>();

  fill(input: TensorInput, images: readonly Uint8Array[], batch: number): TensorData {
    const reuse = this.spare.get(batch);
    this.spare.delete(batch);
    return fillTensor(input, images, batch, reuse);
  }

  giveBack(data: TensorData, batch: number): void {
    this.spare.set(batch, data);
  }
}
