import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildPicture, buildPictures, clip } from '../../src/dataset/build.js';
import { buildManifest } from '../../src/dataset/manifest.js';
import { hashFraction, splitOf } from '../../src/dataset/split.js';
import type { FrameAlert, MissedBox, PictureSources, PreLabel, StoredPicture } from '../../src/dataset/types.js';
import { cocoDocument } from '../../src/dataset/write-coco.js';
import { dataYaml, yoloLabelFile, yoloLine } from '../../src/dataset/write-yolo.js';

const CLASSES = ['scratch', 'dent', 'crack', 'hole'];
const OPTS = { includeUnjudged: false };

function picture(over: Partial<StoredPicture> = {}): StoredPicture {
  return { id: 'p1', camera: 'cam1', ts: 1000, kind: 'alert', reason: 'alert', alertId: 'a1', verdictId: null, file: 'p1.jpg', width: 400, height: 200, detections: [], exportedAt: null, ...over };
}
const det = (cls: string, x: number, y: number, w: number, h: number, confidence = 0.8): PreLabel => ({ class_id: CLASSES.indexOf(cls), class: cls, confidence, box: { x, y, w, h } });
const alert = (id: string, className: string, verdict: FrameAlert['verdict'], x: number, y: number, w: number, h: number): FrameAlert => ({ alertId: id, className, verdict, box: { x, y, w, h } });
const missed = (id: string, className: string, x: number, y: number, w: number, h: number): MissedBox => ({ verdictId: id, className, box: { x, y, w, h } });
const src = (p: StoredPicture, alerts: FrameAlert[] = [], drawn: MissedBox[] = []): PictureSources => ({ picture: p, alerts, missed: drawn });

function built(s: PictureSources, opts = OPTS) {
  const out = buildPicture(s, CLASSES, opts);
  if (!('built' in out)) throw new Error(`expected a built picture, was skipped: ${out.skipped}`);
  return out.built;
}

describe('labels of a picture', () => {
  it('a confirmed alert is a label; the detection that is the same box is not repeated', () => {
    const b = built(src(picture({ detections: [det('dent', 102, 52, 40, 20)] }), [alert('a1', 'dent', 'confirmed', 100, 50, 40, 20)]));
    expect(b.labels).toEqual([{ classIndex: 1, box: { x: 100, y: 50, w: 40, h: 20 }, source: 'confirmed' }]);
    expect(b.needsReview).toBe(false);
    expect(b.falseAlarms).toBe(0);
  });

  it('a false alarm removes its box and its detection: alone on the frame it leaves an empty label file (a hard negative)', () => {
    const b = built(src(picture({ detections: [det('hole', 10, 10, 30, 30)] }), [alert('a1', 'hole', 'false_alarm', 11, 11, 30, 30)]));
    expect(b.labels).toEqual([]);
    expect(b.falseAlarms).toBe(1);
    expect(b.needsReview).toBe(false);
    expect(yoloLabelFile(b.labels, 400, 200)).toBe('');
  });

  it('a false alarm removes only its box: the other detections stay, as the model\'s, for review', () => {
    const b = built(src(picture({ detections: [det('hole', 10, 10, 30, 30), det('crack', 200, 100, 50, 10)] }), [alert('a1', 'hole', 'false_alarm', 10, 10, 30, 30)]));
    expect(b.labels).toEqual([{ classIndex: 2, box: { x: 200, y: 100, w: 50, h: 10 }, source: 'unjudged' }]);
    expect(b.needsReview).toBe(true);
  });

  it('a detection of another class on the false alarm\'s box stays', () => {
    const b = built(src(picture({ detections: [det('dent', 10, 10, 30, 30)] }), [alert('a1', 'hole', 'false_alarm', 10, 10, 30, 30)]));
    expect(b.labels.map((l) => [l.classIndex, l.source])).toEqual([[1, 'unjudged']]);
  });

  it('a missed box is added to its frame, with the confirmed alert', () => {
    const b = built(src(picture(), [alert('a1', 'scratch', 'confirmed', 0, 0, 10, 10)], [missed('v1', 'crack', 300, 150, 20, 20)]));
    expect(b.labels).toEqual([
      { classIndex: 0, box: { x: 0, y: 0, w: 10, h: 10 }, source: 'confirmed' },
      { classIndex: 2, box: { x: 300, y: 150, w: 20, h: 20 }, source: 'missed' },
    ]);
    expect(b.needsReview).toBe(false);
  });

  it('a captured picture keeps its pre-labels and needs review', () => {
    const b = built(src(picture({ kind: 'capture', reason: 'near_threshold', alertId: null, detections: [det('scratch', 5, 6, 7, 8, 0.2)] })));
    expect(b.labels).toEqual([{ classIndex: 0, box: { x: 5, y: 6, w: 7, h: 8 }, source: 'capture' }]);
    expect(b.needsReview).toBe(true);
  });

  it('an alert picture nobody judged is left out, or with includeUnjudged goes in as pre-labels to review', () => {
    const s = src(picture({ detections: [det('dent', 100, 50, 40, 20)] }), [alert('a1', 'dent', 'unjudged', 100, 50, 40, 20)]);
    expect(buildPicture(s, CLASSES, OPTS)).toEqual({ skipped: 'unjudged' });
    const b = built(s, { includeUnjudged: true });
    expect(b.labels).toEqual([{ classIndex: 1, box: { x: 100, y: 50, w: 40, h: 20 }, source: 'unjudged' }]);
    expect(b.needsReview).toBe(true);
  });

  it('boxes are clipped to the picture; a class the model does not have is left out and named', () => {
    const b = built(src(picture(), [alert('a1', 'dent', 'confirmed', -10, 190, 40, 20), alert('a2', 'rust', 'confirmed', 0, 0, 5, 5)]));
    expect(b.labels).toEqual([{ classIndex: 1, box: { x: 0, y: 190, w: 30, h: 10 }, source: 'confirmed' }]);
    expect(b.unknownClasses).toEqual(['rust']);
    expect(clip({ x: 500, y: 0, w: 10, h: 10 }, 400, 200)).toBeUndefined();
  });
});

describe('pictures of one frame', () => {
  it('keep one picture per camera frame, the alert\'s, carrying every verdict of the frame', () => {
    const a = src(picture({ id: 'pa' }), [alert('a1', 'dent', 'confirmed', 0, 0, 10, 10)]);
    const m = src(picture({ id: 'pm', kind: 'missed', reason: 'missed', alertId: null, verdictId: 'v1' }), [], [missed('v1', 'hole', 50, 50, 10, 10)]);
    const other = src(picture({ id: 'pc', camera: 'cam2', kind: 'capture', reason: 'random', alertId: null }));
    const r = buildPictures([m, a, other], CLASSES, OPTS);
    expect(r.skipped).toEqual({ unjudged: 0, duplicate_frame: 1 });
    expect(r.pictures.map((p) => p.picture.id)).toEqual(['pa', 'pc']);
    expect(r.pictures[0].labels.map((l) => l.source)).toEqual(['confirmed', 'missed']);
  });
});

describe('split', () => {
  it('depends on the picture id alone and follows the share', () => {
    expect(hashFraction('abc')).toBe(0xba7816bf / 2 ** 32);   // SHA-256("abc") begins ba7816bf
    expect(splitOf('abc', 0.72)).toBe('train');   // 0xba7816bf / 2^32 = 0.7264…
    expect(splitOf('abc', 0.73)).toBe('val');
    const ids = Array.from({ length: 4000 }, (_, i) => `0193a1b2-0000-7000-8000-${String(i).padStart(12, '0')}`);
    const val = ids.filter((id) => splitOf(id, 0.2) === 'val').length / ids.length;
    expect(val).toBeGreaterThan(0.17);
    expect(val).toBeLessThan(0.23);
    expect(ids.filter((id) => splitOf(id, 0) === 'val')).toEqual([]);
  });
});

describe('YOLO and COCO files', () => {
  it('a label line is class, centre and size as fractions of the picture', () => {
    expect(yoloLine({ classIndex: 2, box: { x: 100, y: 50, w: 40, h: 20 }, source: 'confirmed' }, 400, 200)).toBe('2 0.300000 0.300000 0.100000 0.100000');
    expect(yoloLabelFile([
      { classIndex: 0, box: { x: 0, y: 0, w: 400, h: 200 }, source: 'missed' },
      { classIndex: 3, box: { x: 1, y: 2, w: 3, h: 4 }, source: 'capture' },
    ], 400, 200)).toBe('0 0.500000 0.500000 1.000000 1.000000\n3 0.006250 0.020000 0.007500 0.020000\n');
  });

  it('data.yaml names the classes in the model\'s order', () => {
    expect(parse(dataYaml(CLASSES))).toEqual({ train: 'images/train', val: 'images/val', nc: 4, names: { 0: 'scratch', 1: 'dent', 2: 'crack', 3: 'hole' } });
    expect(dataYaml(['scratch', 'dent'])).toContain('names:\n  0: scratch\n  1: dent\n');
  });

  it('COCO: categories in model order from id 1, bbox x y w h in pixels', () => {
    const b = built(src(picture(), [alert('a1', 'hole', 'confirmed', 10.123, 20, 30, 40)]));
    const doc = cocoDocument([{ built: b, fileName: 'cam1_p1.jpg' }], CLASSES, 'test') as {
      images: unknown[]; annotations: unknown[]; categories: unknown[];
    };
    expect(doc.categories).toEqual(CLASSES.map((name, i) => ({ id: i + 1, name, supercategory: 'defect' })));
    expect(doc.images).toEqual([{ id: 1, file_name: 'cam1_p1.jpg', width: 400, height: 200, linesight_id: 'p1', needs_review: false }]);
    expect(doc.annotations).toEqual([{ id: 1, image_id: 1, category_id: 4, bbox: [10.12, 20, 30, 40], area: 1200, iscrowd: 0, linesight_source: 'confirmed' }]);
  });
});

describe('manifest', () => {
  it('counts labels per class and split, and pictures and boxes per source', () => {
    const confirmed = built(src(picture({ id: 'p1' }), [alert('a1', 'dent', 'confirmed', 0, 0, 10, 10), alert('a2', 'hole', 'false_alarm', 50, 50, 10, 10)]));
    const negative = built(src(picture({ id: 'p2' }), [alert('a3', 'hole', 'false_alarm', 50, 50, 10, 10)]));
    const capture = built(src(picture({ id: 'p3', kind: 'capture', reason: 'random', detections: [det('dent', 1, 1, 5, 5), det('crack', 100, 100, 5, 5)] })));
    const m = buildManifest({
      format: 'yolo', model: { file: 'm.onnx', name: 'm', version: '1', sha256: 'ab', classes: CLASSES }, since: 0, until: 86_400_000, cameras: [], valShare: 0.2,
      includeUnjudged: false, skipped: { unjudged: 4, duplicate_frame: 1 }, missingFiles: ['gone.jpg'], missedWithoutPicture: 2, createdAt: 0, version: '0.0.0',
      written: [{ built: confirmed, split: 'train', image: 'images/train/a.jpg' }, { built: negative, split: 'val', image: 'images/val/b.jpg' }, { built: capture, split: 'val', image: 'images/val/c.jpg' }],
    }) as Record<string, unknown>;
    expect(m.classes).toEqual({ scratch: { train: 0, val: 0 }, dent: { train: 1, val: 1 }, crack: { train: 0, val: 1 }, hole: { train: 0, val: 0 } });
    expect(m.sources).toEqual({
      confirmed: { pictures: 1, boxes: 1 }, missed: { pictures: 0, boxes: 0 }, capture: { pictures: 1, boxes: 2 }, unjudged: { pictures: 0, boxes: 0 }, false_alarm: { pictures: 2, boxes: 2 },
    });
    expect(m.split).toMatchObject({ val_share: 0.2, train: { pictures: 1, labels: 1, negatives: 0 }, val: { pictures: 2, labels: 2, negatives: 1 } });
    expect(m.needs_review).toBe(1);
    expect(m.left_out).toEqual({ unjudged: 4, duplicate_frame: 1, missing_file: 1, missed_without_picture: 2, unknown_classes: [] });
    expect(m.period).toEqual({ since: '1970-01-01T00:00:00.000Z', until: '1970-01-02T00:00:00.000Z' });
  });
});
