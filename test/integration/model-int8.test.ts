// The INT8 model ships beside the FP32 one and must be a drop-in replacement:
// same input and output, same metadata plus its precision. That it finds the
// demo clip's defects is checked beside the FP32 model in model-demo.test.ts.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDetector } from '../../src/infer/detector.js';
import { readOnnxMetadata } from '../../src/infer/onnx-metadata.js';
import { ROOT, runCli } from '../helpers/cli.js';

const FP32 = join(ROOT, 'models/linesight-defects-v1.onnx');
const INT8 = join(ROOT, 'models/linesight-defects-v1-int8.onnx');

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
});
