// `linesight bench --model A --model B`: the argument parsing and the ratios, on
// reports cut down to the fields the comparison reads.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareReports, formatComparison, COMPARE_SCHEMA } from '../../src/bench/compare.js';
import { parseBenchArgs } from '../../src/bench/options.js';
import type { BenchReport } from '../../src/bench/report.js';
import { ROOT } from '../helpers/cli.js';

const FP32 = join(ROOT, 'models/linesight-defects-v1.onnx');
const INT8 = join(ROOT, 'models/linesight-defects-v1-int8.onnx');

function report(path: string, name: string, session: Array<[number, number, number]>, pipeline: Array<[string, number, number]>): BenchReport {
  return {
    model: { path, name },
    session: session.map(([batch, fps, cpuMsPerFrame]) => ({ batch, fps, cpuMsPerFrame })),
    pipeline: pipeline.map(([label, fps, cpuPct]) => ({ label, fps, cpuPct })),
  } as unknown as BenchReport;
}

describe('bench --model given more than once', () => {
  it('keeps the first as the bench model and lists all of them; one --model stays a plain bench', () => {
    expect(parseBenchArgs(['--model', FP32, '--model', INT8, '--no-rtsp'])).toEqual({ model: FP32, models: [FP32, INT8], rtsp: false });
    expect(parseBenchArgs(['--model', INT8])).toEqual({ model: INT8 });
    expect(() => parseBenchArgs(['--model', FP32, '--model', 'missing.onnx'])).toThrow(/Expected an ONNX model file for --model but there is no file at "missing.onnx"/);
  });

  it('gives every rate as a ratio to the first model, and the CPU per frame as how many times less', () => {
    const fp32 = report(FP32, 'linesight-defects-v1', [[1, 50, 16], [4, 60, 15]], [['file-4', 40, 100]]);
    const int8 = report(INT8, 'linesight-defects-v1-int8', [[1, 100, 8], [4, 90, 6]], [['file-4', 60, 120]]);
    const [base, other] = compareReports([fp32, int8]);
    expect(base.precision).toBe('unstated');
    expect(base.session.map((r) => r.ratio)).toEqual([1, 1]);
    expect(other).toEqual({
      path: INT8, name: 'linesight-defects-v1-int8', precision: 'int8-qdq',
      session: [
        { what: 'batch 1', fps: 100, ratio: 2, cpuMsPerFrame: 8, cpuRatio: 2 },
        { what: 'batch 4', fps: 90, ratio: 1.5, cpuMsPerFrame: 6, cpuRatio: 2.5 },
      ],
      // 100 % of a core over 40 frames/s = 25 core-ms per frame; 120 % over 60 = 20
      pipeline: [{ what: 'file-4', fps: 60, ratio: 1.5, cpuMsPerFrame: 20, cpuRatio: 1.25 }],
    });
  });

  it('leaves a ratio out when the first model has no such measurement', () => {
    const [, other] = compareReports([report(FP32, 'a', [[1, 50, 16]], []), report(INT8, 'b', [[1, 100, 8], [4, 90, 6]], [['file-4', 60, 120]])]);
    expect(other.session[1]).toMatchObject({ what: 'batch 4', ratio: null, cpuRatio: null });
    expect(other.pipeline[0]).toMatchObject({ what: 'file-4', ratio: null, cpuRatio: null });
  });

  it('prints the comparison table after the models\' own tables', () => {
    const reports = [report(FP32, 'a', [[1, 50, 16]], []), report(INT8, 'b', [[1, 100, 8]], [])];
    const text = formatComparison({ schema: COMPARE_SCHEMA, models: compareReports(reports), reports: [] });
    expect(text.split('\n')).toEqual([
      "models compared in this run (rate as a ratio to linesight-defects-v1.onnx's; core-ms/frame as how many times less):",
      'session/pipeline  linesight-defects-v1.onnx [unstated]        linesight-defects-v1-int8.onnx [int8-qdq]',
      'batch 1           50 fps (1.00 ×), 16 core-ms/frame (1.00 ×)  100 fps (2.00 ×), 8 core-ms/frame (2.00 ×)',
    ]);
  });
});
