import { iou } from '../infer/evaluate.js';
import type { Box } from '../types.js';
import type { BuildOutcome, BuiltPicture, Label, LabelSource, PictureKind, PictureSources, PreLabel, SkipReason } from './types.js';

/** A pre-label overlapping a judged or drawn box of its class at least this much is that box (the model's view of it). */
export const SAME_BOX_IOU = 0.5;

export interface BuildOptions {
  /** Alert pictures nobody judged go in, their boxes as pre-labels to review (default: left out). */
  includeUnjudged: boolean;
}

/**
 * The labels of one picture, from what the operators said about its frame and
 * what the model saw on it (pure).
 *
 * - A confirmed alert is a label; a missed box an operator drew is a label.
 * - A false alarm is a hard negative: its box (and the pre-label that is the same
 *   box) is left out, so with nothing else on the frame the picture has no labels.
 * - Every other pre-label stays, marked as the model's (`capture` on a captured
 *   picture, `unjudged` otherwise), and the picture needs review: an unlabelled
 *   defect would teach the model that it is background.
 * - An alert picture with no verdict on its frame is left out (`unjudged`) unless
 *   `includeUnjudged`, which adds its alerts as pre-labels to review.
 *
 * @example
 * buildPicture({ picture: { kind: 'alert', detections: [], ... }, alerts: [{ verdict: 'false_alarm', ... }], missed: [] }, ['scratch'], { includeUnjudged: false })
 * // { built: { labels: [], falseAlarms: 1, needsReview: false, ... } }
 */
export function buildPicture(sources: PictureSources, classes: readonly string[], options: BuildOptions): BuildOutcome {
  const { picture, alerts, missed } = sources;
  const judged = alerts.filter((a) => a.verdict !== 'unjudged');
  if (picture.kind !== 'capture' && judged.length === 0 && missed.length === 0 && !options.includeUnjudged) return { skipped: 'unjudged' };

  const index = new Map(classes.map((name, i) => [name, i]));
  const unknown = new Set<string>();
  const labels: Label[] = [];
  const add = (className: string, box: Box, source: LabelSource): void => {
    const classIndex = index.get(className);
    if (classIndex === undefined) {
      unknown.add(className);
      return;
    }
    const clipped = clip(box, picture.width, picture.height);
    if (clipped) labels.push({ classIndex, box: clipped, source });
  };

  const known: Array<{ className: string; box: Box }> = [...alerts, ...missed];
  const isKnown = (d: PreLabel): boolean => known.some((k) => k.className === d.class && iou(k.box, d.box) >= SAME_BOX_IOU);
  for (const a of alerts) {
    if (a.verdict === 'confirmed') add(a.className, a.box, 'confirmed');
    else if (a.verdict === 'unjudged') add(a.className, a.box, 'unjudged');
  }
  for (const m of missed) add(m.className, m.box, 'missed');
  const modelSource: LabelSource = picture.kind === 'capture' ? 'capture' : 'unjudged';
  for (const d of picture.detections) {
    if (!isKnown(d)) add(d.class, d.box, modelSource);
  }

  const built: BuiltPicture = {
    picture,
    labels,
    falseAlarms: alerts.filter((a) => a.verdict === 'false_alarm').length,
    needsReview: labels.some((l) => l.source === 'capture' || l.source === 'unjudged'),
    unknownClasses: [...unknown].sort(),
  };
  return { built };
}

/** The order in which pictures of the same frame are kept: the one an alert or a verdict made, before a capture. */
const KIND_RANK: Record<PictureKind, number> = { alert: 0, missed: 1, capture: 2 };

export interface BuildResult {
  pictures: BuiltPicture[];
  skipped: Record<SkipReason, number>;
}

/**
 * Builds every picture, one per frame: when several pictures show the same frame
 * of a camera (an alert's and a missed defect's), the first by kind is kept and
 * carries all the frame's labels; the others are counted as `duplicate_frame`.
 */
export function buildPictures(all: readonly PictureSources[], classes: readonly string[], options: BuildOptions): BuildResult {
  const skipped: Record<SkipReason, number> = { unjudged: 0, duplicate_frame: 0 };
  const byFrame = new Map<string, PictureSources>();
  for (const s of all) {
    const key = `${s.picture.camera}\u0000${s.picture.ts}`;
    const held = byFrame.get(key);
    if (!held) {
      byFrame.set(key, s);
      continue;
    }
    skipped.duplicate_frame++;
    const [keep, drop] = KIND_RANK[s.picture.kind] < KIND_RANK[held.picture.kind] ? [s, held] : [held, s];
    byFrame.set(key, { picture: keep.picture, alerts: mergeBy(keep.alerts, drop.alerts, (a) => a.alertId), missed: mergeBy(keep.missed, drop.missed, (m) => m.verdictId) });
  }
  const pictures: BuiltPicture[] = [];
  for (const s of byFrame.values()) {
    const outcome = buildPicture(s, classes, options);
    if ('built' in outcome) pictures.push(outcome.built);
    else skipped[outcome.skipped]++;
  }
  pictures.sort((a, b) => a.picture.ts - b.picture.ts || (a.picture.id < b.picture.id ? -1 : 1));
  return { pictures, skipped };
}

function mergeBy<T>(a: readonly T[], b: readonly T[], key: (v: T) => string): T[] {
  const seen = new Set(a.map(key));
  return [...a, ...b.filter((v) => !seen.has(key(v)))];
}

/** The part of `box` inside a width × height picture; undefined when nothing of it is. */
export function clip(box: Box, width: number, height: number): Box | undefined {
  const x0 = Math.max(0, box.x);
  const y0 = Math.max(0, box.y);
  const x1 = Math.min(width, box.x + box.w);
  const y1 = Math.min(height, box.y + box.h);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : undefined;
}
