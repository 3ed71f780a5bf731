// Activation ranges for post-training quantization, measured with onnxruntime-node
// (Debian's Python has no onnxruntime). quantize.py writes a copy of the FP32 model
// whose tensors to quantize are extra graph outputs, and the calibration frames as
// raw letterboxed RGB24; this runs the frames through that model and writes, per
// tensor, the minimum and maximum of every batch. quantize.py turns them into scales.
//
//   node models/train/calibrate.mjs MODEL FRAMES.u8 SIZE OUT.json [BATCH]
import { readFileSync, writeFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [modelPath, framesPath, sizeText, outPath, batchText = '8'] = process.argv.slice(2);
if (!modelPath || !framesPath || !sizeText || !outPath) {
  throw new Error('expected arguments MODEL FRAMES.u8 SIZE OUT.json [BATCH], found fewer');
}
const size = Number(sizeText);
const batch = Number(batchText);
const frameBytes = size * size * 3;
const frames = readFileSync(framesPath);
if (frames.length === 0 || frames.length % frameBytes !== 0) {
  throw new Error(`expected ${framesPath} to hold whole ${size}x${size} RGB24 frames (${frameBytes} bytes each), found ${frames.length} bytes`);
}
const count = frames.length / frameBytes;

const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
const names = session.outputNames;
const ranges = Object.fromEntries(names.map((n) => [n, { min: [], max: [] }]));

/** HWC uint8 frames → NCHW float32 0..1, as linesight's detector feeds the model. */
function toInput(first, n) {
  const plane = size * size;
  const data = new Float32Array(n * 3 * plane);
  for (let f = 0; f < n; f++) {
    const src = (first + f) * frameBytes;
    const dst = f * 3 * plane;
    for (let p = 0; p < plane; p++) {
      data[dst + p] = frames[src + 3 * p] / 255;
      data[dst + plane + p] = frames[src + 3 * p + 1] / 255;
      data[dst + 2 * plane + p] = frames[src + 3 * p + 2] / 255;
    }
  }
  return new ort.Tensor('float32', data, [n, 3, size, size]);
}

for (let first = 0; first < count; first += batch) {
  const n = Math.min(batch, count - first);
  const out = await session.run({ [session.inputNames[0]]: toInput(first, n) });
  for (const name of names) {
    const values = out[name].data;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    ranges[name].min.push(lo);
    ranges[name].max.push(hi);
  }
  if ((first + n) % 64 === 0 || first + n === count) process.stderr.write(`calibrate: ${first + n}/${count} frames\n`);
}
await session.release();
writeFileSync(outPath, JSON.stringify({ frames: count, batch, ranges }));
