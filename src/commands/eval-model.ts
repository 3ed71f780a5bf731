import { parseArgs } from 'node:util';
import { LinesightError } from '../errors.js';
import { createDetector } from '../infer/detector.js';
import { unitValue } from './values.js';

/** `linesight eval-model FILE --data DIR`: precision, recall and mAP on a labelled folder, through the pipeline's own preprocessing. */
export async function cmdEvalModel(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args, allowPositionals: true,
    options: { data: { type: 'string' }, confidence: { type: 'string', default: '0.001' }, iou: { type: 'string', default: '0.6' }, threshold: { type: 'string', default: '0.25' } },
  });
  const file = positionals[0];
  if (!file || !values.data) throw new LinesightError('E_CLI', 'Expected a model and a data folder: linesight eval-model FILE --data DIR');
  const confidence = unitValue(values.confidence, '--confidence');
  const iou = unitValue(values.iou, '--iou');
  const threshold = unitValue(values.threshold, '--threshold');
  // Loaded on demand: dataset reading is something the service itself never needs.
  const { evaluateDataset, formatEvaluation } = await import('../infer/evaluate.js');
  const detector = await createDetector({ path: file, providers: ['cpu'], confidence, iou, sessions: 1 });
  try {
    const result = await evaluateDataset(detector, values.data, { threshold });
    process.stdout.write(`${formatEvaluation(result)}\n`);
  } finally {
    await detector.close();
  }
  return 0;
}
