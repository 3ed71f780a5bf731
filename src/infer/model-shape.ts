import { LinesightError } from '../errors.js';
import type { OutputLayout } from '../types.js';
import type { TensorInfo } from './onnx-metadata.js';

export interface InputSpec {
  layout: 'nchw' | 'nhwc';
  type: 'float32' | 'uint8';
  /** Spatial size, or undefined where the model leaves it dynamic. */
  width?: number;
  height?: number;
  dynamicBatch: boolean;
}

const fmt = (shape: ReadonlyArray<number | string>) => `[${shape.join(', ')}]`;
const isFixed = (d: number | string | undefined): d is number => typeof d === 'number' && d > 0;

/**
 * Checks that the model takes one image batch: `[B, 3, H, W]` (Ultralytics,
 * most exports) or `[B, H, W, 3]`, float32 or uint8. Throws E_MODEL_SHAPE otherwise.
 */
export function describeInput(input: TensorInfo): InputSpec {
  const s = input.shape;
  if (s.length !== 4) {
    throw new LinesightError('E_MODEL_SHAPE',
      `Expected the model input "${input.name}" to be an image batch of rank 4 ([batch, 3, height, width]) but found rank ${s.length} ${fmt(s)}`);
  }
  if (input.elemType !== 'float32' && input.elemType !== 'uint8') {
    throw new LinesightError('E_MODEL_SHAPE', `Expected the model input "${input.name}" to be float32 or uint8 but found ${input.elemType}`);
  }
  let layout: InputSpec['layout'];
  if (s[1] === 3) layout = 'nchw';
  else if (s[3] === 3) layout = 'nhwc';
  else {
    throw new LinesightError('E_MODEL_SHAPE',
      `Expected 3 colour channels in the model input "${input.name}" ([batch, 3, height, width] or [batch, height, width, 3]) but found ${fmt(s)}`);
  }
  const [h, w] = layout === 'nchw' ? [s[2], s[3]] : [s[1], s[2]];
  return {
    layout,
    type: input.elemType,
    width: isFixed(w) ? w : undefined,
    height: isFixed(h) ? h : undefined,
    dynamicBatch: !isFixed(s[0]),
  };
}

/**
 * Decides how to decode an output from its actual dims (after a real run) and the
 * class count when the metadata names the classes. Throws E_MODEL_LAYOUT naming
 * the shapes found when it is neither YOLOv8/11 nor YOLOv5.
 */
export function detectLayout(dims: readonly number[], classCount?: number): { layout: OutputLayout; classCount: number } {
  const expected = classCount === undefined
    ? '[batch, 4+classes, anchors] (YOLOv8/YOLO11) or [batch, anchors, 5+classes] (YOLOv5)'
    : `[batch, ${4 + classCount}, anchors] (YOLOv8/YOLO11, ${classCount} classes) or [batch, anchors, ${5 + classCount}] (YOLOv5)`;
  const fail = () => new LinesightError('E_MODEL_LAYOUT', `Expected a detection output ${expected} but found ${fmt(dims)}`, {
    details: { dims: [...dims], classCount },
  });
  if (dims.length !== 3) throw fail();
  const [, a, b] = dims;
  if (classCount !== undefined) {
    if (a === 4 + classCount) return { layout: 'yolov8', classCount };
    if (b === 5 + classCount) return { layout: 'yolov5', classCount };
    throw fail();
  }
  const v8 = a > 4;
  const v5 = b > 5;
  if (v8 && !v5) return { layout: 'yolov8', classCount: a - 4 };
  if (v5 && !v8) return { layout: 'yolov5', classCount: b - 5 };
  // Both readings possible without class names: the anchor axis is the long one (8400 vs 84, 25200 vs 85).
  if (v8 && v5) return a < b ? { layout: 'yolov8', classCount: a - 4 } : { layout: 'yolov5', classCount: b - 5 };
  throw fail();
}
