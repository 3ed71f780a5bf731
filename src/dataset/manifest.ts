import { isoTime } from '../clock.js';
import type { BuiltPicture, LabelSource, SkipReason, Split } from './types.js';
import { LABEL_SOURCES } from './types.js';

/** The model whose class order the dataset follows, and which a fine-tune starts from. */
export interface ModelFacts {
  file: string;
  name: string;
  version: string | null;
  sha256: string;
  classes: string[];
}

/** A picture as it was written: where it went. */
export interface WrittenPicture {
  built: BuiltPicture;
  split: Split;
  /** Path of the image inside the dataset folder (images/train/…). */
  image: string;
}

export interface ManifestInput {
  format: 'yolo' | 'coco';
  model: ModelFacts;
  since: number;
  until: number;
  cameras: readonly string[];
  valShare: number;
  includeUnjudged: boolean;
  written: readonly WrittenPicture[];
  skipped: Record<SkipReason, number>;
  missingFiles: readonly string[];
  missedWithoutPicture: number;
  createdAt: number;
  version: string;
}

type SourceCount = { pictures: number; boxes: number };

/**
 * `manifest.json`: what the dataset holds and where it came from. `sources`
 * counts per origin the pictures and boxes (for `false_alarm`, the boxes left
 * out: the hard negatives); `classes` the labels per class and split.
 */
export function buildManifest(m: ManifestInput): object {
  const classes = Object.fromEntries(m.model.classes.map((c) => [c, { train: 0, val: 0 }]));
  const sources: Record<LabelSource | 'false_alarm', SourceCount> = Object.fromEntries(
    [...LABEL_SOURCES, 'false_alarm'].map((s) => [s, { pictures: 0, boxes: 0 }])) as Record<LabelSource | 'false_alarm', SourceCount>;
  const split = { train: { pictures: 0, labels: 0, negatives: 0 }, val: { pictures: 0, labels: 0, negatives: 0 } };
  for (const w of m.written) {
    const s = split[w.split];
    s.pictures++;
    s.labels += w.built.labels.length;
    if (w.built.labels.length === 0) s.negatives++;
    for (const l of w.built.labels) classes[m.model.classes[l.classIndex]][w.split]++;
    for (const src of LABEL_SOURCES) {
      const n = w.built.labels.filter((l) => l.source === src).length;
      if (n > 0) {
        sources[src].pictures++;
        sources[src].boxes += n;
      }
    }
    if (w.built.falseAlarms > 0) {
      sources.false_alarm.pictures++;
      sources.false_alarm.boxes += w.built.falseAlarms;
    }
  }
  const review = m.written.filter((w) => w.built.needsReview);
  const unknown = [...new Set(m.written.flatMap((w) => w.built.unknownClasses))].sort();
  return {
    schema: 'linesight.dataset/1',
    created_at: isoTime(m.createdAt),
    linesight_version: m.version,
    format: m.format,
    model: m.model,
    period: { since: isoTime(m.since), until: isoTime(m.until) },
    cameras: [...new Set(m.written.map((w) => w.built.picture.camera))].sort(),
    camera_filter: m.cameras.length ? [...m.cameras] : null,
    split: { method: 'sha256(picture id) < val_share', val_share: m.valShare, ...split },
    classes,
    sources,
    needs_review: review.length,
    left_out: {
      unjudged: m.skipped.unjudged,
      duplicate_frame: m.skipped.duplicate_frame,
      missing_file: m.missingFiles.length,
      missed_without_picture: m.missedWithoutPicture,
      unknown_classes: unknown,
    },
    include_unjudged: m.includeUnjudged,
    missing_files: m.missingFiles,
    pictures: m.written.map((w) => ({
      id: w.built.picture.id,
      image: w.image,
      split: w.split,
      camera: w.built.picture.camera,
      ts: isoTime(w.built.picture.ts),
      kind: w.built.picture.kind,
      reason: w.built.picture.reason,
      labels: w.built.labels.length,
      sources: [...new Set(w.built.labels.map((l) => l.source))].sort(),
      false_alarms: w.built.falseAlarms,
      needs_review: w.built.needsReview,
    })),
  };
}
