import sharp from 'sharp';
import { LinesightError } from '../errors.js';
import { computeLetterbox, LETTERBOX_PAD, type Letterbox } from './letterbox.js';

export interface LetterboxedImage {
  /** Packed RGB24 of `dstWidth × dstHeight`. */
  rgb: Buffer;
  transform: Letterbox;
}

/**
 * Letterboxes a packed RGB24 frame to the model input size with sharp: bilinear
 * resize (as Ultralytics' cv2.INTER_LINEAR), then grey-114 borders.
 */
export async function letterboxImage(rgb: Buffer, width: number, height: number, dstWidth: number, dstHeight: number): Promise<LetterboxedImage> {
  const expected = width * height * 3;
  if (rgb.length !== expected) {
    throw new LinesightError('E_FRAME_SIZE', `Expected ${expected} bytes for a ${width}×${height} RGB24 frame but received ${rgb.length}`);
  }
  const lb = computeLetterbox(width, height, dstWidth, dstHeight);
  let pipeline = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (lb.scaledWidth !== width || lb.scaledHeight !== height) {
    pipeline = pipeline.resize(lb.scaledWidth, lb.scaledHeight, { fit: 'fill', kernel: 'linear' });
  }
  if (lb.left || lb.top || lb.right || lb.bottom) {
    pipeline = pipeline.extend({
      left: lb.left, top: lb.top, right: lb.right, bottom: lb.bottom,
      background: { r: LETTERBOX_PAD, g: LETTERBOX_PAD, b: LETTERBOX_PAD },
    });
  }
  const out = await pipeline.removeAlpha().raw().toBuffer();
  return { rgb: out, transform: lb };
}
