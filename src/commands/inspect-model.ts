import { parseArgs } from 'node:util';
import { LinesightError } from '../errors.js';
import { createDetector } from '../infer/detector.js';
import { readOnnxMetadata } from '../infer/onnx-metadata.js';
import { providersValue } from './values.js';

/** `linesight inspect-model FILE`: loads the model, runs it once, prints what linesight will feed and decode. */
export async function cmdInspectModel(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args, allowPositionals: true,
    options: { providers: { type: 'string', default: 'cpu' }, json: { type: 'boolean', default: false } },
  });
  const file = positionals[0];
  if (!file) throw new LinesightError('E_CLI', 'Expected a model file: linesight inspect-model FILE');
  const providers = providersValue(values.providers, '--providers');
  const meta = readOnnxMetadata(file);
  const detector = await createDetector({ path: file, providers, sessions: 1 });
  const info = detector.info;
  await detector.close();
  // A quantized export says so in its metadata (`npm run model:quantize` writes int8-qdq); most exports state nothing.
  const precision = meta.metadata.precision || null;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...info, precision, opset: meta.opset, producer: meta.producerName, inputs: meta.inputs, outputs: meta.outputs }, null, 2)}\n`);
    return 0;
  }
  const shape = (s: Array<number | string>) => `[${s.join(', ')}]`;
  const lines = [
    `model      ${info.name} (version ${info.version}), opset ${meta.opset}, producer ${meta.producerName || 'unknown'}`,
    ...meta.inputs.map((i) => `input      ${i.name} ${i.elemType} ${shape(i.shape)}`),
    ...meta.outputs.map((o) => `output     ${o.name} ${o.elemType} ${shape(o.shape)}`),
    `layout     ${info.layout === 'yolov8' ? 'YOLOv8/YOLO11 [batch, 4+classes, anchors]' : 'YOLOv5 [batch, anchors, 5+classes]'}`,
    `input size ${info.inputWidth}×${info.inputHeight}, ${info.dynamicBatch ? 'dynamic batch (frames of several cameras share one call)' : 'fixed batch 1'}`,
    `precision  ${precision ?? 'not stated in the metadata'}`,
    `classes    ${info.classNames.map((n, i) => `${i}:${n}`).join(' ')}`,
    `provider   ${info.provider} (tried: ${providers.join(' ▸ ')})`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
