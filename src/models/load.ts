import type { ModelConfig } from '../config/schema.js';
import { errorMessage, LinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import { createDetector, type Detector, type DetectorOptions } from '../infer/detector.js';
import { ensureProviderDirs, providerOptions } from '../infer/providers.js';
import { LETTERBOX_PAD } from '../preprocess/letterbox.js';
import type { Frame } from '../types.js';

/** How the line opens a model file: the configured providers, thresholds and sessions. */
export function detectorOptions(m: ModelConfig, path: string, overrides: Partial<DetectorOptions> = {}): DetectorOptions {
  const ep = providerOptions(m);
  ensureProviderDirs(ep); // TensorRT creates only the last folder of its engine cache path
  return {
    providerOptions: ep, path, providers: m.providers, confidence: m.confidence, iou: m.iou, classes: m.classes,
    classConfidence: m.class_confidence, ignoreClasses: m.ignore_classes, threads: m.threads, sessions: m.sessions, input: m.input,
    ...overrides,
  };
}

/** `count` blank frames (letterbox grey) at the model's input size, for a test inference. */
export function blankFrames(width: number, height: number, count: number): Frame[] {
  const rgb = Buffer.alloc(width * height * 3, LETTERBOX_PAD);
  return Array.from({ length: count }, (_, i) => ({
    camera: `test-${i}`, seq: 0, captureTs: 0, captureMono: 0, width, height, pictured: false,
    input: { rgb, width, height, release: () => {} },
  }));
}

/**
 * Opens a model and proves it runs: the session (on TensorRT this is where the
 * engine is built), the checks of `createDetector` (input shape, output
 * layout), then one call with a blank batch of `batch` frames through the same
 * path the line's frames take. The detector is closed again on any failure.
 */
export async function loadChecked(options: DetectorOptions, batch: number, log: Logger): Promise<Detector> {
  const detector = await createDetector(options, log);
  try {
    const { inputWidth: w, inputHeight: h } = detector.info;
    const results = await detector.detect(blankFrames(w, h, Math.max(1, batch)));
    if (results.length !== Math.max(1, batch)) {
      throw new LinesightError('E_MODEL_LAYOUT', `Expected ${batch} results from a test batch of ${batch} blank frames but received ${results.length}`);
    }
  } catch (err) {
    await detector.close().catch(() => undefined); // the test's own error is the one to report
    throw err instanceof LinesightError ? err
      : new LinesightError('E_MODEL_LOAD', `Expected ${options.path} to run a test batch of blank frames but it failed: ${errorMessage(err)}`, { cause: err });
  }
  return detector;
}
