import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeValue, LinesightError } from '../errors.js';
import { letterboxPicture } from '../preprocess/ffmpeg-letterbox.js';
import { ownInput } from '../preprocess/model-input.js';
import type { Box, Detection, Frame } from '../types.js';
import type { Detector } from './detector.js';

/**
 * Detection quality on a labelled image folder, measured through linesight's own
 * path: ffmpeg letterboxes each image with the cameras' filter graph, then the
 * detector runs it as it runs camera frames (session, decode, NMS, box back to
 * source pixels).
 *
 * The maths follows the usual detection benchmarks: per class, detections are
 * taken in descending confidence and each one claims the unclaimed ground-truth
 * box of its class with the highest IoU at or above the threshold (COCO's greedy
 * matching); AP is the area under the precision envelope at every recall step
 * (VOC 2010+ "all-point" interpolation); mAP50-95 averages AP over the IoU
 * thresholds 0.50, 0.55, …, 0.95 and over the classes that have ground truth.
 */

/** IoU thresholds of mAP50-95, as exact two-decimal numbers. */
export const IOU_THRESHOLDS: readonly number[] = Array.from({ length: 10 }, (_, i) => (50 + 5 * i) / 100);

export interface GroundTruth {
  classId: number;
  box: Box;
}

/** What matching needs of a detection. */
export interface ScoredBox {
  classId: number;
  confidence: number;
  box: Box;
}

export interface Match {
  classId: number;
  confidence: number;
  /** True when the detection claimed a ground-truth box. */
  tp: boolean;
  /** IoU with the claimed box, or the best IoU with any same-class box when none was claimed (0 if none). */
  iou: number;
}

export interface ClassEvaluation {
  classId: number;
  className: string;
  /** Ground-truth boxes of this class. */
  truths: number;
  /** Detections at or above the confidence threshold. */
  detections: number;
  /** At IoU 0.5 and the confidence threshold. */
  precision: number;
  recall: number;
  /** null when the class has no ground truth (AP undefined). */
  ap50: number | null;
  ap50_95: number | null;
}

export interface EvaluationResult {
  images: number;
  truths: number;
  /** Confidence threshold for precision and recall (AP uses every detection). */
  threshold: number;
  classes: ClassEvaluation[];
  /** Means over the classes that have ground truth. */
  map50: number;
  map50_95: number;
  model?: { name: string; version: string; inputWidth: number; inputHeight: number; provider: string };
  /** Wall time of `detector.detect` per image (session, decode, NMS; ffmpeg's letterbox is not counted). */
  msPerImage?: number;
}

export interface EvaluatedImage {
  truths: readonly GroundTruth[];
  detections: readonly ScoredBox[];
}

export function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const ih = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/**
 * Matches one image's detections to its ground truth at one IoU threshold.
 * Returns one Match per detection, in descending confidence (ties keep input order).
 *
 * @example
 * matchDetections([{ classId: 0, confidence: 0.9, box: { x: 0, y: 0, w: 10, h: 10 } }],
 *                 [{ classId: 0, box: { x: 0, y: 0, w: 10, h: 10 } }], 0.5);
 * // → [{ classId: 0, confidence: 0.9, tp: true, iou: 1 }]
 */
export function matchDetections(detections: readonly ScoredBox[], truths: readonly GroundTruth[], iouThreshold: number): Match[] {
  const order = detections.map((d, i) => ({ d, i })).sort((a, b) => b.d.confidence - a.d.confidence || a.i - b.i);
  const claimed = new Array<boolean>(truths.length).fill(false);
  return order.map(({ d }) => {
    let best = -1;
    let bestIou = 0;
    let anyIou = 0;
    truths.forEach((t, j) => {
      if (t.classId !== d.classId) return;
      const o = iou(d.box, t.box);
      anyIou = Math.max(anyIou, o);
      if (!claimed[j] && o >= iouThreshold && o > bestIou) {
        best = j;
        bestIou = o;
      }
    });
    if (best >= 0) claimed[best] = true;
    return { classId: d.classId, confidence: d.confidence, tp: best >= 0, iou: best >= 0 ? bestIou : anyIou };
  });
}

/**
 * All-point interpolated average precision of one class from its matches over
 * every image. NaN when the class has no ground truth.
 */
export function averagePrecision(matches: ReadonlyArray<Pick<Match, 'confidence' | 'tp'>>, truths: number): number {
  if (truths <= 0) return Number.NaN;
  const sorted = [...matches].sort((a, b) => b.confidence - a.confidence);
  const recall: number[] = [0];
  const precision: number[] = [1];
  let tp = 0;
  sorted.forEach((m, i) => {
    if (m.tp) tp += 1;
    recall.push(tp / truths);
    precision.push(tp / (i + 1));
  });
  recall.push(1);
  precision.push(0);
  // Precision envelope: the best precision at this recall or any higher one.
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i], precision[i + 1]);
  let ap = 0;
  for (let i = 1; i < recall.length; i++) ap += (recall[i] - recall[i - 1]) * precision[i];
  return ap;
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((s, x) => s + x, 0) / xs.length);

/** The whole evaluation from in-memory images: AP per class and IoU threshold, P/R at `threshold`. */
export function evaluateImages(images: readonly EvaluatedImage[], classNames: readonly string[], threshold: number): EvaluationResult {
  const matches = IOU_THRESHOLDS.map((t) => images.map((img) => matchDetections(img.detections, img.truths, t)).flat());
  const classes = classNames.map((className, classId): ClassEvaluation => {
    const truths = images.reduce((n, img) => n + img.truths.filter((t) => t.classId === classId).length, 0);
    const aps = matches.map((all) => averagePrecision(all.filter((m) => m.classId === classId), truths));
    const atThreshold = matches[0].filter((m) => m.classId === classId && m.confidence >= threshold);
    const tp = atThreshold.filter((m) => m.tp).length;
    return {
      classId, className, truths,
      detections: atThreshold.length,
      precision: atThreshold.length === 0 ? 0 : tp / atThreshold.length,
      recall: truths === 0 ? 0 : tp / truths,
      ap50: truths === 0 ? null : aps[0],
      ap50_95: truths === 0 ? null : mean(aps),
    };
  });
  const scored = classes.filter((c) => c.truths > 0);
  return {
    images: images.length,
    truths: classes.reduce((n, c) => n + c.truths, 0),
    threshold,
    classes,
    map50: mean(scored.map((c) => c.ap50 as number)),
    map50_95: mean(scored.map((c) => c.ap50_95 as number)),
  };
}

// ---------------------------------------------------------------- dataset on disk

/** `labels.json` as `models/train/synth.py --split test` writes it. */
export interface DatasetLabels {
  classes: string[];
  images: Array<{ file: string; width: number; height: number; boxes: Array<{ class: number; x: number; y: number; w: number; h: number }> }>;
}

function datasetError(path: string, expected: string, found: unknown): LinesightError {
  return new LinesightError('E_ARGUMENT', `Expected ${expected} in ${path} but found ${describeValue(found)}`);
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads and checks `DIR/labels.json`; throws E_ARGUMENT naming the first bad field. */
export async function readLabels(dir: string): Promise<DatasetLabels> {
  const path = join(dir, 'labels.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new LinesightError('E_ARGUMENT', `Expected a readable JSON file at ${path} (a labelled image folder)`, { cause: err });
  }
  const doc = raw as Partial<DatasetLabels>;
  if (!Array.isArray(doc.classes) || !doc.classes.every((c) => typeof c === 'string')) throw datasetError(path, 'a "classes" array of names', doc.classes);
  if (!Array.isArray(doc.images)) throw datasetError(path, 'an "images" array', doc.images);
  doc.images.forEach((img, i) => {
    if (typeof img?.file !== 'string') throw datasetError(path, `images[${i}].file to be a file name`, img?.file);
    if (!Array.isArray(img.boxes)) throw datasetError(path, `images[${i}].boxes to be an array`, img.boxes);
    img.boxes.forEach((b, k) => {
      if (!Number.isInteger(b?.class) || b.class < 0 || b.class >= (doc.classes as string[]).length) {
        throw datasetError(path, `images[${i}].boxes[${k}].class to be a class index below ${(doc.classes as string[]).length}`, b?.class);
      }
      for (const key of ['x', 'y', 'w', 'h'] as const) {
        if (!isNum(b[key])) throw datasetError(path, `images[${i}].boxes[${k}].${key} to be a number`, b[key]);
      }
    });
  });
  return doc as DatasetLabels;
}

/** One image as a letterboxing camera would hand it on: its model input at the detector's size. */
async function readFrame(dir: string, file: string, seq: number, size: { width: number; height: number }): Promise<Frame> {
  const picture = await letterboxPicture(['-i', join(dir, file)], size);
  return { camera: 'eval', seq, captureTs: Date.now(), captureMono: performance.now(), width: picture.width, height: picture.height, input: ownInput(picture.input, size.width, size.height), pictured: false };
}

export interface EvaluateOptions {
  /** Confidence threshold for precision/recall (default 0.25). The detector's own confidence floor should be low (0.001) for AP. */
  threshold?: number;
  /** Frames per `detect` call (default 4; the detector runs one call per frame when its batch is fixed). */
  batch?: number;
}

/**
 * Runs `detector` on every image of `DIR/labels.json` and scores it. Classes are
 * matched by name, so a model whose class order differs from the dataset's is
 * scored correctly; a model class the dataset does not know is ignored.
 *
 * @example
 * const detector = await createDetector({ path: 'models/linesight-defects-v1.onnx', confidence: 0.001, iou: 0.6 });
 * const result = await evaluateDataset(detector, '/tmp/test-split', { threshold: 0.25 });
 * console.log(formatEvaluation(result));
 */
export async function evaluateDataset(detector: Detector, dir: string, opts: EvaluateOptions = {}): Promise<EvaluationResult> {
  const { threshold, batch } = checkOptions(opts);
  const labels = await readLabels(dir);
  const byName = new Map(labels.classes.map((name, i) => [name, i]));
  const size = { width: detector.info.inputWidth, height: detector.info.inputHeight };
  const images: EvaluatedImage[] = [];
  let detectMs = 0;
  for (let start = 0; start < labels.images.length; start += batch) {
    // Not overlapped with the session call: ffmpeg beside it would inflate the ms/image reported.
    const frames = await Promise.all(labels.images.slice(start, start + batch).map((img, i) => readFrame(dir, img.file, start + i, size)));
    const t0 = performance.now();
    const results = await detector.detect(frames);
    detectMs += performance.now() - t0;
    frames.forEach((frame, i) => images.push(scoredImage(labels.images[start + i], frame, results[i], byName)));
  }
  const { info } = detector;
  return {
    ...evaluateImages(images, labels.classes, threshold),
    model: { name: info.name, version: info.version, inputWidth: info.inputWidth, inputHeight: info.inputHeight, provider: info.provider },
    msPerImage: images.length === 0 ? 0 : detectMs / images.length,
  };
}

function checkOptions(opts: EvaluateOptions): { threshold: number; batch: number } {
  const threshold = opts.threshold ?? 0.25;
  const batch = opts.batch ?? 4;
  if (!isNum(threshold) || threshold < 0 || threshold > 1) {
    throw new LinesightError('E_ARGUMENT', `Expected a confidence threshold between 0 and 1 but received ${describeValue(threshold)}`);
  }
  if (!Number.isInteger(batch) || batch < 1) {
    throw new LinesightError('E_ARGUMENT', `Expected a positive integer for batch but received ${describeValue(batch)}`);
  }
  return { threshold, batch };
}

/** One labelled image with the detections for it, in the dataset's classes; its size checked against labels.json. */
function scoredImage(entry: DatasetLabels['images'][number], frame: Frame, detections: readonly Detection[], byName: ReadonlyMap<string, number>): EvaluatedImage {
  if (entry.width !== undefined && entry.height !== undefined && (entry.width !== frame.width || entry.height !== frame.height)) {
    throw new LinesightError('E_FRAME_SIZE',
      `Expected ${entry.file} to be ${entry.width}×${entry.height} as labels.json says but the image is ${frame.width}×${frame.height}`);
  }
  return {
    truths: entry.boxes.map((b) => ({ classId: b.class, box: { x: b.x, y: b.y, w: b.w, h: b.h } })),
    detections: toDatasetClasses(detections, byName),
  };
}

function toDatasetClasses(detections: readonly Detection[], byName: ReadonlyMap<string, number>): ScoredBox[] {
  const out: ScoredBox[] = [];
  for (const d of detections) {
    const classId = byName.get(d.className);
    if (classId !== undefined) out.push({ classId, confidence: d.confidence, box: d.box });
  }
  return out;
}

const f3 = (v: number | null) => (v === null ? '    -' : v.toFixed(3));

/**
 * The report `linesight eval-model` prints: one row per class, then the means.
 * The last line is `mAP50=<value>` so scripts can read it with `tail -1`.
 */
export function formatEvaluation(result: EvaluationResult): string {
  const lines: string[] = [];
  const m = result.model;
  if (m) {
    lines.push(`model ${m.name} ${m.version} (${m.inputWidth}x${m.inputHeight}, ${m.provider})` +
      (result.msPerImage === undefined ? '' : `, ${result.msPerImage.toFixed(1)} ms/image`));
  }
  lines.push(`${result.images} images, ${result.truths} boxes; precision/recall at confidence ${result.threshold} and IoU 0.5`);
  const width = Math.max(5, ...result.classes.map((c) => c.className.length));
  lines.push(`${'class'.padEnd(width)}  truths  dets      P      R   AP50  AP50-95`);
  for (const c of result.classes) {
    lines.push(`${c.className.padEnd(width)}  ${String(c.truths).padStart(6)}  ${String(c.detections).padStart(4)}  ${c.precision.toFixed(3)}  ${c.recall.toFixed(3)}  ${f3(c.ap50)}  ${f3(c.ap50_95).padStart(7)}`);
  }
  lines.push(`mAP50-95=${result.map50_95.toFixed(4)}`);
  lines.push(`mAP50=${result.map50.toFixed(4)}`);
  return lines.join('\n');
}
