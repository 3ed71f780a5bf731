import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDetector, type Detector } from '../../src/infer/detector.js';
import type { Frame } from '../../src/types.js';
import { runLetterboxGraph } from '../helpers/ffmpeg-letterbox.js';

const MODELS = join(import.meta.dirname, '../fixtures/models');
const COLORS = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255] } as const;

interface Square { color: keyof typeof COLORS; x: number; y: number; w: number; h: number }

/** A grey frame with coloured rectangles at exact source pixels. */
function frame(width: number, height: number, squares: Square[], camera = 'cam'): Frame {
  const rgb = Buffer.alloc(width * height * 3, 64);
  for (const s of squares) {
    for (let y = s.y; y < s.y + s.h; y++) {
      for (let x = s.x; x < s.x + s.w; x++) rgb.set(COLORS[s.color], (y * width + x) * 3);
    }
  }
  return { camera, seq: 1, captureTs: Date.now(), width, height, rgb };
}

function expectBox(actual: { x: number; y: number; w: number; h: number }, s: Square, tol: number): void {
  expect(Math.abs(actual.x - s.x)).toBeLessThanOrEqual(tol);
  expect(Math.abs(actual.y - s.y)).toBeLessThanOrEqual(tol);
  expect(Math.abs(actual.x + actual.w - (s.x + s.w))).toBeLessThanOrEqual(tol);
  expect(Math.abs(actual.y + actual.h - (s.y + s.h))).toBeLessThanOrEqual(tol);
}

const open: Detector[] = [];
async function load(file: string, opts: Partial<Parameters<typeof createDetector>[0]> = {}): Promise<Detector> {
  const d = await createDetector({ path: join(MODELS, file), ...opts });
  open.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(open.map((d) => d.close()));
});

describe('detector on the fixture models', () => {
  it('reports what it loaded', async () => {
    const d = await load('squares-v8.onnx');
    expect(d.info).toMatchObject({
      layout: 'yolov8', classNames: ['red', 'green', 'blue'], inputWidth: 320, inputHeight: 320,
      dynamicBatch: true, provider: 'cpu', version: 'fixture-1', name: 'squares-v8', inputShape: ['batch', 3, 320, 320],
    });
  });

  it.each([
    [1280, 720, 4],
    [640, 480, 2],
    [721, 403, 3],
  ])('finds squares at their source pixels in a %i×%i frame (±%i px)', async (w, h, tol) => {
    const d = await load('squares-v8.onnx');
    const red = { color: 'red' as const, x: Math.round(w * 0.3), y: Math.round(h * 0.4), w: Math.round(w / 8), h: Math.round(h / 6) };
    const blue = { color: 'blue' as const, x: Math.round(w * 0.7), y: Math.round(h * 0.1), w: Math.round(w / 10), h: Math.round(w / 10) };
    const [dets] = await d.detect([frame(w, h, [red, blue])]);
    expect(dets.map((x) => x.className).sort()).toEqual(['blue', 'red']);
    expectBox(dets.find((x) => x.className === 'red')!.box, red, tol);
    expectBox(dets.find((x) => x.className === 'blue')!.box, blue, tol);
    expect(dets[0].confidence).toBeCloseTo(0.9, 5);
  });

  it('keeps results apart in one batched call of frames of different sizes', async () => {
    const d = await load('squares-v8.onnx');
    const a = { color: 'green' as const, x: 100, y: 100, w: 200, h: 120 };
    const b = { color: 'red' as const, x: 300, y: 50, w: 64, h: 64 };
    const results = await d.detect([frame(1280, 720, [a], 'a'), frame(640, 480, [b], 'b'), frame(640, 480, [], 'c')]);
    expect(results).toHaveLength(3);
    expect(results[0].map((x) => x.className)).toEqual(['green']);
    expectBox(results[0][0].box, a, 4);
    expect(results[1].map((x) => x.className)).toEqual(['red']);
    expectBox(results[1][0].box, b, 2);
    expect(results[2]).toEqual([]);
  });

  it('gives the same detections with the session on a worker thread as on the main thread, calls in flight kept apart', async () => {
    const inWorker = await load('squares-v8.onnx', { thread: 'worker' });
    const onMain = await load('squares-v8.onnx', { thread: 'main' });
    expect([inWorker.info.thread, onMain.info.thread]).toEqual(['worker', 'main']);
    const frames = [
      frame(1280, 720, [{ color: 'green', x: 100, y: 100, w: 200, h: 120 }], 'a'),
      frame(640, 480, [{ color: 'red', x: 300, y: 50, w: 64, h: 64 }, { color: 'blue', x: 20, y: 300, w: 90, h: 60 }], 'b'),
    ];
    // Several calls queued at once: each reply must reach its own caller.
    const [w1, w2, m1] = await Promise.all([inWorker.detect(frames), inWorker.detect([frames[1]]), onMain.detect(frames)]);
    expect(w1).toEqual(m1);
    expect(w2).toEqual([m1[1]]);
    expect(w1.map((d) => d.map((x) => x.className).sort())).toEqual([['green'], ['blue', 'red']]);
  });

  it.each([
    ['main thread', { thread: 'main' as const }],
    ['worker thread', { thread: 'worker' as const }],
    ['pool of two workers', { thread: 'worker' as const, sessions: 2 }],
  ])('reuses its input buffers without carrying a frame into the next call (%s)', async (_, opts) => {
    const d = await load('squares-v8.onnx', opts);
    const square = frame(640, 480, [{ color: 'red', x: 300, y: 50, w: 64, h: 64 }]);
    const empty = frame(640, 480, []);
    for (let round = 0; round < 3; round++) {
      expect((await d.detect([square, square])).map((r) => r.length)).toEqual([1, 1]);
      expect(await d.detect([empty, empty])).toEqual([[], []]);
      expect((await d.detect([square])).map((r) => r.length)).toEqual([1]);
      expect(await d.detect([empty])).toEqual([[]]);
    }
  });

  it('reads ffmpeg\'s letterbox when a frame carries one, with the same boxes as from the full-size frame', async () => {
    const d = await load('squares-v8.onnx');
    const squares: Square[] = [{ color: 'green', x: 100, y: 100, w: 200, h: 120 }, { color: 'red', x: 900, y: 500, w: 96, h: 80 }];
    const full = frame(1280, 720, squares);
    const raw = join(mkdtempSync(join(tmpdir(), 'linesight-lb-')), 'frame.rgb');
    writeFileSync(raw, full.rgb!);
    const { inputs } = await runLetterboxGraph(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '1280x720', '-r', '5', '-i', raw], 5,
      { width: 320, height: 320, viewEvery: 1, pad: 114 });
    const modelOnly: Frame = { ...full, rgb: undefined, input: { rgb: inputs, width: 320, height: 320 } };
    const [[fromFfmpeg], [fromSharp]] = await Promise.all([d.detect([modelOnly]), d.detect([full])]);
    expect(fromFfmpeg.map((x) => x.className).sort()).toEqual(['green', 'red']);
    expect(fromSharp.map((x) => x.className).sort()).toEqual(['green', 'red']);
    for (const s of squares) expectBox(fromFfmpeg.find((x) => x.className === s.color)!.box, s, 4); // in source pixels
    // An input of another size than the model's is not used; without a full-size frame that is an error that says so.
    const wrong: Frame = { ...full, rgb: undefined, input: { rgb: Buffer.alloc(640 * 640 * 3), width: 640, height: 640 } };
    await expect(d.detect([wrong])).rejects.toMatchObject({ code: 'E_FRAME_SIZE', message: expect.stringContaining('only a 640×640 model input') });
  });

  it('decodes the YOLOv5 layout', async () => {
    const d = await load('squares-v5.onnx');
    expect(d.info.layout).toBe('yolov5');
    const s = { color: 'blue' as const, x: 200, y: 200, w: 100, h: 80 };
    const [dets] = await d.detect([frame(640, 480, [s])]);
    expect(dets).toHaveLength(1);
    expect(dets[0]).toMatchObject({ className: 'blue', classId: 2 });
    expectBox(dets[0].box, s, 2);
  });

  it('runs a fixed-batch model one frame per call', async () => {
    const d = await load('squares-static.onnx');
    expect(d.info.dynamicBatch).toBe(false);
    const results = await d.detect([frame(640, 480, [{ color: 'red', x: 10, y: 10, w: 50, h: 50 }]), frame(640, 480, [{ color: 'green', x: 10, y: 10, w: 50, h: 50 }])]);
    expect(results.map((r) => r.map((x) => x.className))).toEqual([['red'], ['green']]);
  });

  it('takes class names from the config when the model has none', async () => {
    const plain = await load('squares-v8-nometa.onnx');
    expect(plain.info.classNames).toEqual(['class0', 'class1', 'class2']);
    const named = await load('squares-v8-nometa.onnx', { classes: ['scratch', 'dent', 'hole'] });
    const [dets] = await named.detect([frame(640, 480, [{ color: 'green', x: 10, y: 10, w: 50, h: 50 }])]);
    expect(dets.map((x) => x.className)).toEqual(['dent']);
  });

  it('applies per-class thresholds and ignored classes', async () => {
    const d = await load('squares-v8.onnx', { classConfidence: { red: 0.95 }, ignoreClasses: ['blue'] });
    const [dets] = await d.detect([frame(640, 480, [
      { color: 'red', x: 10, y: 10, w: 50, h: 50 }, { color: 'green', x: 100, y: 10, w: 50, h: 50 }, { color: 'blue', x: 200, y: 10, w: 50, h: 50 },
    ])]);
    expect(dets.map((x) => x.className)).toEqual(['green']);
  });

  it('falls back to the next execution provider and says which one is active', async () => {
    const d = await load('squares-v8.onnx', { providers: ['tensorrt', 'cuda', 'cpu'] });
    expect(d.info.provider).toBe('cpu');
  });
});

describe('detector refuses what it cannot run', () => {
  it('E_MODEL_NOT_FOUND for a missing file', async () => {
    await expect(createDetector({ path: join(MODELS, 'nope.onnx') })).rejects.toMatchObject({ code: 'E_MODEL_NOT_FOUND', message: expect.stringContaining('nope.onnx') });
  });
  it('E_MODEL_LOAD for a file that is not ONNX', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'linesight-model-')), 'fake.onnx');
    writeFileSync(file, 'this is not a model\n');
    await expect(createDetector({ path: file })).rejects.toMatchObject({ code: 'E_MODEL_LOAD' });
  });
  it('E_MODEL_SHAPE for an input of the wrong rank', async () => {
    await expect(createDetector({ path: join(MODELS, 'bad-rank.onnx') })).rejects.toMatchObject({
      code: 'E_MODEL_SHAPE', message: expect.stringMatching(/rank 4.*but found rank 3 \[3, 320, 320\]/),
    });
  });
  it('E_MODEL_LAYOUT for an output that is not a YOLO detection head', async () => {
    await expect(createDetector({ path: join(MODELS, 'bad-layout.onnx') })).rejects.toMatchObject({
      code: 'E_MODEL_LAYOUT', message: expect.stringContaining('but found [1, 6, 6, 3]'),
    });
  });
  it('E_PROVIDER when no configured provider is available', async () => {
    await expect(createDetector({ path: join(MODELS, 'squares-v8.onnx'), providers: ['tensorrt', 'cuda'] })).rejects.toMatchObject({
      code: 'E_PROVIDER', message: expect.stringContaining('tensorrt'),
    });
  });
});
