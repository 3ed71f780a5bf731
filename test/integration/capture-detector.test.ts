import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDetector, type Detector } from '../../src/infer/detector.js';
import { letterboxPicture } from '../../src/preprocess/ffmpeg-letterbox.js';
import { ownInput } from '../../src/preprocess/model-input.js';
import type { Frame } from '../../src/types.js';

const MODEL = join(import.meta.dirname, '../fixtures/models/squares-v8.onnx');
const TMP = mkdtempSync(join(tmpdir(), 'linesight-capture-detector-'));
const open: Detector[] = [];
afterAll(async () => {
  await Promise.all(open.map((d) => d.close()));
  rmSync(TMP, { recursive: true, force: true });
});

/** A grey 640×480 picture with a red and a green square, letterboxed by ffmpeg to the model input. */
async function frame(): Promise<Frame> {
  const rgb = Buffer.alloc(640 * 480 * 3, 64);
  const square = (color: number[], x0: number, y0: number) => {
    for (let y = y0; y < y0 + 60; y++) for (let x = x0; x < x0 + 60; x++) rgb.set(color, (y * 640 + x) * 3);
  };
  square([255, 0, 0], 100, 100);
  square([0, 255, 0], 400, 300);
  const raw = join(TMP, 'frame.rgb');
  writeFileSync(raw, rgb);
  const lb = await letterboxPicture(['-f', 'rawvideo', '-pixel_format', 'rgb24', '-video_size', '640x480', '-i', raw], { width: 320, height: 320 });
  return { camera: 'cam', seq: 1, captureTs: Date.now(), captureMono: performance.now(), width: 640, height: 480, input: ownInput(lb.input, 320, 320), pictured: false };
}

describe('detections just under the threshold, for picture capture (fixture model: every square at 0.9)', () => {
  it('reports them apart as `near`, leaving the detections at or above the thresholds as they were', async () => {
    const f = await frame();
    const options = { path: MODEL, confidence: 0.5, classConfidence: { green: 0.95 } };
    const plain = await createDetector(options);
    open.push(plain);
    const banded = await createDetector({ ...options, captureBand: 0.1 });
    open.push(banded);
    const [without] = await plain.detect([f]);
    const [withBand] = await banded.detect([f]);
    expect(without.map((d) => d.className)).toEqual(['red']);
    expect(without.near).toBeUndefined();
    expect([...withBand]).toEqual([...without]);
    expect(withBand.near?.map((d) => [d.className, Number(d.confidence.toFixed(3))])).toEqual([['green', 0.9]]);
    expect(Math.abs(withBand.near![0].box.x - 400)).toBeLessThanOrEqual(3);
  });
});
