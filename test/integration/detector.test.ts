import { ownInput } from '../../src/preprocess/model-input.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDetector, type Detector } from '../../src/infer/detector.js';
import { letterboxPicture } from '../../src/preprocess/ffmpeg-letterbox.js';
import type { Frame } from '../../src/types.js';

const MODELS = join(import.meta.dirname, '../fixtures/models');
const COLORS = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255] } as const;
const TMP = mkdtempSync(join(tmpdir(), 'linesight-detector-'));
let files = 0;

interface Square { color: keyof typeof COLORS; x: number; y: number; w: number; h: number }

/** A grey picture with coloured rectangles at exact source pixels, packed RGB24. */
function picture(width: number, height: number, squares: Square[]): Buffer {
  const rgb = Buffer.alloc(width * height * 3, 64);
  for (const s of squares) {
    for (let y = s.y; y < s.y + s.h; y++) {
      for (let x = s.x; x < s.x + s.w; x++) rgb.set(COLORS[s.color], (y * width + x) * 3);
    }
  }
  return rgb;
}

/** That picture as a letterboxing camera hands it on: ffmpeg's letterbox to the 320×320 model input, no full-size pixels. */
async function frame(width: number, height: number, squares: Square[], camera = 'cam'): Promise<Frame> {
  const raw = join(TMP, `${files++}.rgb`);
  writeFileSync(raw, picture(width, height, squares));
  const lb = await letterboxPicture(['-f', 'rawvideo', '-pixel_format', 'rgb24', '-video_size', `${width}x${height}`, '-i', raw], { width: 320, height: 320 });
  expect([lb.width, lb.height]).toEqual([width, height]);
  return { camera, seq: 1, captureTs: Date.now(), captureMono: performance.now(), width, height, input: ownInput(lb.input, 320, 320), pictured: false };
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
  rmSync(TMP, { recursive: true, force: true });
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
    const [dets] = await d.detect([await frame(w, h, [red, blue])]);
    expect(dets.map((x) => x.className).sort()).toEqual(['blue', 'red']);
    expectBox(dets.find((x) => x.className === 'red')!.box, red, tol);
    expectBox(dets.find((x) => x.className === 'blue')!.box, blue, tol);
    expect(dets[0].confidence).toBeCloseTo(0.9, 5);
  });

  it('keeps results apart in one batched call of frames of different sizes', async () => {
    const d = await load('squares-v8.onnx');
    const a = { color: 'green' as const, x: 100, y: 100, w: 200, h: 120 };
    const b = { color: 'red' as const, x: 300, y: 50, w: 64, h: 64 };
    const results = await d.detect(await Promise.all([frame(1280, 720, [a], 'a'), frame(640, 480, [b], 'b'), frame(640, 480, [], 'c')]));
    expect(results).toHaveLength(3);
    expect(results[0].map((x) => x.className)).toEqual(['green']);
    expectBox(results[0][0].box, a, 4);
    expect(results[1].map((x) => x.className)).toEqual(['red']);
    expectBox(results[1][0].box, b, 2);
    expect(results[2]).toEqual([]);
  });

  it.each([
    ['one session', {}],
    ['a pool of two sessions', { sessions: 2 }],
  ])('keeps calls in flight apart: several queued at once each get their own results (%s)', async (_, opts) => {
    const d = await load('squares-v8.onnx', opts);
    const frames = await Promise.all([
      frame(1280, 720, [{ color: 'green', x: 100, y: 100, w: 200, h: 120 }], 'a'),
      frame(640, 480, [{ color: 'red', x: 300, y: 50, w: 64, h: 64 }, { color: 'blue', x: 20, y: 300, w: 90, h: 60 }], 'b'),
    ]);
    const alone = await d.detect(frames);
    const [both, second, first] = await Promise.all([d.detect(frames), d.detect([frames[1]]), d.detect([frames[0]])]);
    expect(both).toEqual(alone);
    expect(second).toEqual([alone[1]]);
    expect(first).toEqual([alone[0]]);
    expect(alone.map((r) => r.map((x) => x.className).sort())).toEqual([['green'], ['blue', 'red']]);
  });

  it.each([
    ['one session', {}],
    ['a pool of two sessions', { sessions: 2 }],
  ])('reuses its input buffers without carrying a frame into the next call (%s)', async (_, opts) => {
    const d = await load('squares-v8.onnx', opts);
    const [square, empty] = await Promise.all([frame(640, 480, [{ color: 'red', x: 300, y: 50, w: 64, h: 64 }]), frame(640, 480, [])]);
    for (let round = 0; round < 3; round++) {
      expect((await d.detect([square, square])).map((r) => r.length)).toEqual([1, 1]);
      expect(await d.detect([empty, empty])).toEqual([[], []]);
      expect((await d.detect([square])).map((r) => r.length)).toEqual([1]);
      expect(await d.detect([empty])).toEqual([[]]);
    }
  });

  it('refuses a frame without a model input of the model\'s size with E_FRAME_SIZE, naming what it found', async () => {
    const d = await load('squares-v8.onnx');
    const good = await frame(1280, 720, [{ color: 'green', x: 100, y: 100, w: 200, h: 120 }]);
    const { input: _input, ...bare } = good;
    const fullSizeOnly = bare as unknown as Frame; // a caller outside TypeScript can hand over a frame without its input
    await expect(d.detect([fullSizeOnly])).rejects.toMatchObject({ code: 'E_FRAME_SIZE', message: 'Expected a 320×320 model input from camera cam but found none' });
    const otherSize: Frame = { ...bare, input: ownInput(Buffer.alloc(640 * 640 * 3), 640, 640) };
    await expect(d.detect([good, otherSize])).rejects.toMatchObject({ code: 'E_FRAME_SIZE', message: expect.stringContaining('found a 640×640 one') });
    const short: Frame = { ...bare, input: ownInput(Buffer.alloc(100), 320, 320) };
    await expect(d.detect([short])).rejects.toMatchObject({ code: 'E_FRAME_SIZE', message: expect.stringContaining('but received 100') });
    expect((await d.detect([good]))[0].map((x) => x.className)).toEqual(['green']); // the detector carries on
  });

  it('decodes the YOLOv5 layout', async () => {
    const d = await load('squares-v5.onnx');
    expect(d.info.layout).toBe('yolov5');
    const s = { color: 'blue' as const, x: 200, y: 200, w: 100, h: 80 };
    const [dets] = await d.detect([await frame(640, 480, [s])]);
    expect(dets).toHaveLength(1);
    expect(dets[0]).toMatchObject({ className: 'blue', classId: 2 });
    expectBox(dets[0].box, s, 2);
  });

  it('runs a fixed-batch model one frame per call', async () => {
    const d = await load('squares-static.onnx');
    expect(d.info.dynamicBatch).toBe(false);
    const results = await d.detect(await Promise.all([frame(640, 480, [{ color: 'red', x: 10, y: 10, w: 50, h: 50 }]), frame(640, 480, [{ color: 'green', x: 10, y: 10, w: 50, h: 50 }])]));
    expect(results.map((r) => r.map((x) => x.className))).toEqual([['red'], ['green']]);
  });

  it('takes class names from the config when the model has none', async () => {
    const plain = await load('squares-v8-nometa.onnx');
    expect(plain.info.classNames).toEqual(['class0', 'class1', 'class2']);
    const named = await load('squares-v8-nometa.onnx', { classes: ['scratch', 'dent', 'hole'] });
    const [dets] = await named.detect([await frame(640, 480, [{ color: 'green', x: 10, y: 10, w: 50, h: 50 }])]);
    expect(dets.map((x) => x.className)).toEqual(['dent']);
  });

  it('applies per-class thresholds and ignored classes', async () => {
    const d = await load('squares-v8.onnx', { classConfidence: { red: 0.95 }, ignoreClasses: ['blue'] });
    const [dets] = await d.detect([await frame(640, 480, [
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
