// The INT8 model ships beside the FP32 one and must be a drop-in replacement:
// same input and output, same metadata plus its precision. That it finds the
// demo clip's defects is checked beside the FP32 model in model-demo.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDetector } from '../../src/infer/detector.js';
import { readOnnxMetadata } from '../../src/infer/onnx-metadata.js';
import { ROOT, runCli } from '../helpers/cli.js';

const FP32 = join(ROOT, 'models/linesight-defects-v1.onnx');
const INT8 = join(ROOT, 'models/linesight-defects-v1-int8.onnx');
const PY = '/usr/bin/python3';
const HAS_PYTHON_ONNX = spawnSync(PY, ['-c', 'import onnx, numpy, PIL'], { stdio: 'ignore' }).status === 0;

describe('the INT8 defect model', () => {
  it('loads through the detector with the FP32 model\'s input, output, classes and metadata, plus its precision', async () => {
    const [fp32, int8] = [await createDetector({ path: FP32 }), await createDetector({ path: INT8 })];
    try {
      const same = (i: typeof fp32.info) => ({
        version: i.version, inputName: i.inputName, inputShape: i.inputShape, inputType: i.inputType, inputWidth: i.inputWidth,
        inputHeight: i.inputHeight, dynamicBatch: i.dynamicBatch, outputName: i.outputName, outputShape: i.outputShape,
        layout: i.layout, classNames: i.classNames,
      });
      expect(same(int8.info)).toEqual(same(fp32.info));
      expect(int8.info.classNames).toEqual(['scratch', 'dent', 'crack', 'hole']);
      expect(int8.info.metadata).toEqual({ ...fp32.info.metadata, precision: 'int8-qdq' });
    } finally {
      await Promise.all([fp32.close(), int8.close()]);
    }
    // int8 weights: a quarter of the float bytes, plus scales and the float head
    expect(statSync(INT8).size).toBeLessThan(statSync(FP32).size / 3);
    expect(readOnnxMetadata(INT8).opset).toBeGreaterThanOrEqual(13);
  });

  it('says its precision in linesight inspect-model, and the FP32 model says it states none', async () => {
    const int8 = await runCli(['inspect-model', INT8]);
    expect(int8.code).toBe(0);
    expect(int8.stdout).toContain('precision  int8-qdq');
    expect(int8.stdout).toContain('classes    0:scratch 1:dent 2:crack 3:hole');
    const json = await runCli(['inspect-model', INT8, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ precision: 'int8-qdq', inputWidth: 320, inputHeight: 320 });
    const fp32 = await runCli(['inspect-model', FP32]);
    expect(fp32.stdout).toContain('precision  not stated in the metadata');
  });

  // What a line does after fine-tuning: quantize its model with its own pictures in the calibration (a short run: 8 synthetic frames).
  it.skipIf(!HAS_PYTHON_ONNX)('quantizes a model with the line\'s own pictures in the calibration, and refuses a folder without pictures', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-quantize-'));
    try {
      const pictures = join(dir, 'line');
      const synth = spawnSync(PY, [join(ROOT, 'models/train/synth.py'), '--split', 'test', '--count', '3', '--size', '640x360', '--restyle', 'crack:neon', '--jpg', '--out', pictures], { encoding: 'utf8' });
      expect(synth.status, synth.stderr).toBe(0);
      const out = join(dir, 'line-int8.onnx');
      const run = (args: string[]) => spawnSync(PY, [join(ROOT, 'models/train/quantize.py'), '--model', FP32, '--frames', '8', '--out', out, ...args], { cwd: ROOT, encoding: 'utf8' });
      const q = run(['--calib-data', pictures]);
      expect(q.status, q.stderr).toBe(0);
      expect(q.stdout).toMatch(/over 8 frames and 3 line pictures/);
      const meta = readOnnxMetadata(out).metadata;
      expect(meta.precision).toBe('int8-qdq');
      expect(JSON.parse(meta.calibration)).toEqual({ synthetic_frames: 8, line_pictures: 3, from: 'line' });
      const detector = await createDetector({ path: out });
      expect(detector.info.classNames).toEqual(['scratch', 'dent', 'crack', 'hole']);
      await detector.close();
      const empty = run(['--calib-data', dir + '/nothing-here']);
      expect(empty.status).not.toBe(0);
      expect(empty.stderr).toMatch(/--calib-data .*nothing-here: expected an exported dataset \(images\/train, images\/val\) or a folder of \.jpg\/\.png pictures, found none/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
