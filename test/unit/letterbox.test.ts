import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { letterboxPicture } from '../../src/preprocess/ffmpeg-letterbox.js';
import { boxToInput, boxToSource, computeLetterbox } from '../../src/preprocess/letterbox.js';
import { fillTensor, TensorStore, tensorDims, writeImageToTensor, type TensorInput } from '../../src/preprocess/tensor.js';

describe('computeLetterbox (Ultralytics convention)', () => {
  it.each([
    // src W, H → dst W, H: scaled W, H, left, top, right, bottom
    [1280, 720, 640, 640, 640, 360, 0, 140, 0, 140],
    [640, 480, 640, 640, 640, 480, 0, 80, 0, 80],
    [1920, 1080, 640, 640, 640, 360, 0, 140, 0, 140],
    [721, 403, 640, 640, 640, 358, 0, 141, 0, 141],
    [721, 403, 320, 320, 320, 179, 0, 70, 0, 71],
    [1280, 720, 320, 320, 320, 180, 0, 70, 0, 70],
    [640, 480, 320, 320, 320, 240, 0, 40, 0, 40],
    [480, 640, 320, 320, 240, 320, 40, 0, 40, 0],
    [403, 721, 320, 320, 179, 320, 70, 0, 71, 0],
    [320, 320, 320, 320, 320, 320, 0, 0, 0, 0],
  ])('%i×%i into %i×%i', (sw, sh, dw, dh, scw, sch, left, top, right, bottom) => {
    const lb = computeLetterbox(sw, sh, dw, dh);
    expect([lb.scaledWidth, lb.scaledHeight, lb.left, lb.top, lb.right, lb.bottom]).toEqual([scw, sch, left, top, right, bottom]);
  });

  it('maps model boxes back to exact source pixels', () => {
    const lb = computeLetterbox(1280, 720, 640, 640);
    // A 100×50 box at (200, 300) in the source is (100, 150+140) .. in the input.
    expect(boxToInput(lb, { x: 200, y: 300, w: 100, h: 50 })).toEqual({ cx: 125, cy: 302.5, w: 50, h: 25 });
    expect(boxToSource(lb, 125, 302.5, 50, 25)).toEqual({ x: 200, y: 300, w: 100, h: 50 });
  });

  it.each([[1280, 720], [640, 480], [1920, 1080], [721, 403]])('round-trips boxes for %i×%i', (w, h) => {
    for (const dst of [320, 640]) {
      const lb = computeLetterbox(w, h, dst, dst);
      const box = { x: 17, y: 29, w: 101, h: 77 };
      const b = boxToInput(lb, box);
      const back = boxToSource(lb, b.cx, b.cy, b.w, b.h);
      expect(back.x).toBeCloseTo(box.x, 9);
      expect(back.y).toBeCloseTo(box.y, 9);
      expect(back.w).toBeCloseTo(box.w, 9);
      expect(back.h).toBeCloseTo(box.h, 9);
    }
  });

  it('clips boxes that reach into the padding to the frame', () => {
    const lb = computeLetterbox(1280, 720, 640, 640);
    expect(boxToSource(lb, 10, 140, 40, 40)).toEqual({ x: 0, y: 0, w: 60, h: 40 });
  });
});

describe('letterboxPicture (ffmpeg, with the cameras\' filter graph)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-letterbox-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('puts the scaled picture in the centre with grey 114 borders, as computeLetterbox places it, and reports the source size', async () => {
    const w = 721, h = 403;
    const rgb = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) rgb.set([200, 10, 30], i * 3);
    const raw = join(dir, 'flat.rgb');
    writeFileSync(raw, rgb);
    const out = await letterboxPicture(['-f', 'rawvideo', '-pixel_format', 'rgb24', '-video_size', `${w}x${h}`, '-i', raw], { width: 320, height: 320 });
    expect([out.width, out.height, out.input.length]).toEqual([w, h, 320 * 320 * 3]);
    const px = (x: number, y: number) => [...out.input.subarray((y * 320 + x) * 3, (y * 320 + x) * 3 + 3)];
    expect(px(0, 0)).toEqual([114, 114, 114]); // top pad (70 rows)
    expect(px(160, 69)).toEqual([114, 114, 114]);
    expect(px(160, 70)).toEqual([200, 10, 30]); // first picture row
    expect(px(160, 248)).toEqual([200, 10, 30]); // last picture row (70 + 179 - 1)
    expect(px(160, 249)).toEqual([114, 114, 114]); // bottom pad (71 rows)
    expect(px(319, 319)).toEqual([114, 114, 114]);
  });

  it('rejects a file ffmpeg cannot decode with E_ARGUMENT and ffmpeg\'s reason', async () => {
    const bad = join(dir, 'not-an-image.png');
    writeFileSync(bad, 'not a picture');
    await expect(letterboxPicture(['-i', bad], { width: 32, height: 32 })).rejects.toMatchObject({
      code: 'E_ARGUMENT', message: expect.stringContaining(`Expected ffmpeg to decode ${bad} but it exited with code`),
    });
  });
});

describe('writeImageToTensor', () => {
  const rgb = Uint8Array.from([255, 0, 51, 0, 255, 102]); // 2×1 image
  it('writes NCHW float 0..1 at the batch index', () => {
    const t = new Float32Array(12);
    writeImageToTensor(rgb, 2, 1, t, 1, 'nchw');
    expect([...t.subarray(0, 6)]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...t.subarray(6)].map((v) => Math.round(v * 255))).toEqual([255, 0, 0, 255, 51, 102]);
  });
  it('writes NHWC uint8 unchanged', () => {
    const t = new Uint8Array(6);
    writeImageToTensor(rgb, 2, 1, t, 0, 'nhwc');
    expect([...t]).toEqual([...rgb]);
  });
});

describe('fillTensor and TensorStore (a session\'s input buffers, kept between calls)', () => {
  const input: TensorInput = { name: 'images', type: 'float32', layout: 'nchw', width: 2, height: 1 };
  const a = Uint8Array.from([255, 0, 51, 0, 255, 102]);
  const b = Uint8Array.from([0, 0, 0, 0, 0, 0]);
  const grey = 114 / 255;

  it('writes the images at 0… and the letterbox grey after them', () => {
    const t = fillTensor(input, [a], 2) as Float32Array;
    expect(t).toBeInstanceOf(Float32Array);
    expect([...t.subarray(0, 6)].map((v) => Math.round(v * 255))).toEqual([255, 0, 0, 255, 51, 102]);
    expect([...t.subarray(6)].every((v) => v === Math.fround(grey))).toBe(true);
    expect([...fillTensor({ ...input, type: 'uint8', layout: 'nhwc' }, [], 1)]).toEqual([114, 114, 114, 114, 114, 114]);
    expect(tensorDims(input, 2)).toEqual([2, 3, 1, 2]);
    expect(tensorDims({ ...input, layout: 'nhwc' }, 2)).toEqual([2, 1, 2, 3]);
  });

  it('overwrites every value of a reused buffer, and reuses only one of the right type and length', () => {
    const first = fillTensor(input, [a, a], 2);
    const again = fillTensor(input, [b], 2, first);
    expect(again).toBe(first);
    expect([...again.subarray(0, 6)]).toEqual([0, 0, 0, 0, 0, 0]); // nothing of the last call's images
    expect([...again.subarray(6)].every((v) => v === Math.fround(grey))).toBe(true);
    expect(fillTensor(input, [a], 1, first)).not.toBe(first); // batch 1 needs 6 values, not 12
    expect(fillTensor({ ...input, type: 'uint8' }, [a, a], 2, first)).toBeInstanceOf(Uint8Array);
  });

  it('refuses an image of the wrong size (E_FRAME_SIZE) or more images than the batch (E_ARGUMENT), naming both', () => {
    expect(() => fillTensor(input, [a.subarray(0, 3)], 1)).toThrow(expect.objectContaining({ code: 'E_FRAME_SIZE', message: 'Expected 6 bytes for a 2×1 RGB24 image but received 3' }));
    expect(() => fillTensor(input, [a, a], 1)).toThrow(expect.objectContaining({ code: 'E_ARGUMENT', message: 'Expected at most 1 images for a batch of 1 but received 2' }));
  });

  it('lends one buffer per batch size; a call running at the same time gets its own', () => {
    const store = new TensorStore();
    const one = store.fill(input, [a], 1);
    const other = store.fill(input, [b], 1); // `one` is still in use
    expect(other).not.toBe(one);
    store.giveBack(one, 1);
    const two = store.fill(input, [a, b], 2);
    store.giveBack(two, 2);
    expect(store.fill(input, [b], 1)).toBe(one);
    expect(store.fill(input, [b, a], 2)).toBe(two);
  });
});
