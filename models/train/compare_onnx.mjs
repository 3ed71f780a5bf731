// Runs two ONNX detectors on the same input with onnxruntime-node (the runtime
// linesight itself uses) and prints the largest difference of their outputs.
//   node models/train/compare_onnx.mjs A.onnx B.onnx INPUT.f32 SIZE
// INPUT.f32: one float32 image [1, 3, SIZE, SIZE], little-endian, as finetune.py writes it.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [a, b, input, size] = process.argv.slice(2);
if (!a || !b || !input || !size) {
  process.stderr.write('usage: compare_onnx.mjs A.onnx B.onnx INPUT.f32 SIZE\n');
  process.exit(2);
}
const s = Number(size);
const bytes = readFileSync(input);
const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
if (data.length !== 3 * s * s) throw new Error(`expected ${3 * s * s} floats in ${input}, found ${data.length}`);
const outputs = [];
for (const file of [a, b]) {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, s, s]) });
  outputs.push(result[session.outputNames[0]]);
  await session.release();
}
const [x, y] = outputs.map((t) => t.data);
if (x.length !== y.length) throw new Error(`output sizes differ: ${x.length} and ${y.length}`);
let maxAbs = 0;
let maxScore = 0;
const rows = outputs[0].dims[1];
const n = outputs[0].dims[2];
for (let i = 0; i < x.length; i++) {
  maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i]));
  if (Math.floor(i / n) >= 4 && Math.floor(i / n) < rows) maxScore = Math.max(maxScore, x[i]);
}
process.stdout.write(`${JSON.stringify({ max_abs_diff: maxAbs, max_score: maxScore, values: x.length })}\n`);
