import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { splitOf } from '../../src/dataset/split.js';
import { silentLogger } from '../../src/log.js';
import { openDatabase } from '../../src/store/db.js';
import { VerdictsTable } from '../../src/store/verdicts.js';
import { ROOT, runCli } from '../helpers/cli.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');   // classes red, green, blue
const T0 = Date.parse('2026-01-01T00:00:00Z');
const W = 320;
const H = 240;
const dir = mkdtempSync(join(tmpdir(), 'linesight-dataset-'));
const db = join(dir, 'line.db');
const pictures = join(dir, 'pictures');
const config = join(dir, 'line.yaml');

type Box = { x: number; y: number; w: number; h: number };
interface Manifest {
  schema: string;
  model: { sha256: string };
  sources: unknown;
  left_out: unknown;
  missing_files: string[];
  needs_review: number;
  cameras: string[];
  split: { train: { pictures: number }; val: { pictures: number } };
  pictures: Array<{ id: string }>;
}
interface Coco {
  images: Array<{ id: number; file_name: string; linesight_id: string }>;
  annotations: Array<{ image_id: number }>;
  categories: unknown[];
}
const det = (cls: string, box: Box, confidence = 0.9) => ({ class_id: ['red', 'green', 'blue'].indexOf(cls), class: cls, confidence, box });

/**
 * A store as the line leaves it: alerts with verdicts, a missed defect with its
 * frame, captured frames, and their JPEG files (one of them lost).
 */
async function fillStore(): Promise<void> {
  const conn = openDatabase(db, silentLogger());
  const verdicts = new VerdictsTable(conn);
  const alert = conn.prepare(`INSERT INTO alerts (id, camera, seq, ts, track_id, class_id, class_name, confidence, box_x, box_y, box_w, box_h,
    frame_width, frame_height, frame_ts, confirmed_at, model_name, model_version, status, created_at, json)
    VALUES (?, 'cam1', ?, ?, ?, ?, ?, 0.9, ?, ?, ?, ?, ${W}, ${H}, ?, ?, 'squares-v8', 'fixture-1', 'sent', ?, '{}')`);
  const pic = conn.prepare(`INSERT INTO pictures (id, camera, ts, kind, reason, alert_id, verdict_id, file, width, height, bytes, detections, model_name, model_version, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ${W}, ${H}, 1000, ?, 'squares-v8', 'fixture-1', ?)`);
  const addAlert = (id: string, seq: number, ts: number, cls: string, b: Box) => alert.run(id, seq, ts, seq, ['red', 'green', 'blue'].indexOf(cls), cls, b.x, b.y, b.w, b.h, ts, ts, ts);
  const a1 = { x: 50, y: 60, w: 40, h: 30 };
  const a2 = { x: 100, y: 100, w: 50, h: 50 };
  const a3 = { x: 150, y: 20, w: 30, h: 30 };
  const m1 = { x: 10, y: 10, w: 20, h: 20 };
  addAlert('a1', 1, T0 + 1000, 'red', a1);
  addAlert('a2', 2, T0 + 2000, 'green', a2);
  addAlert('a3', 3, T0 + 3000, 'blue', a3);
  verdicts.judgeAlert({ id: 'v1', alertId: 'a1', verdict: 'confirmed', operator: 'st1', ts: T0 + 9000, replace: false }, T0 + 9000);
  verdicts.judgeAlert({ id: 'v2', alertId: 'a2', verdict: 'confirmed', operator: 'st1', ts: T0 + 9100, replace: false }, T0 + 9100);
  verdicts.judgeAlert({ id: 'v3', alertId: 'a2', verdict: 'false_alarm', operator: 'st2', ts: T0 + 9200, replace: true }, T0 + 9200);   // the latest verdict wins
  verdicts.recordMissed({ id: 'vm', alertId: null, camera: 'cam1', verdict: 'missed', className: 'green', box: m1, frame: { width: W, height: H, ts: T0 + 1000 }, operator: 'st1', ts: T0 + 9300 }, T0 + 9300);
  // A box drawn by mistake, taken back: no label anywhere.
  verdicts.recordMissed({ id: 'vx', alertId: null, camera: 'cam1', verdict: 'missed', className: 'green', box: { x: 60, y: 60, w: 20, h: 20 }, frame: { width: W, height: H, ts: T0 + 7000 }, operator: 'st1', ts: T0 + 9400 }, T0 + 9400);
  verdicts.withdrawMissed({ id: 'vx-back', verdictId: 'vx', operator: 'st1', ts: T0 + 9500 }, T0 + 9500);
  const rows: Array<[string, string, number, string, string, string | null, string | null, unknown[]]> = [
    ['p1', 'cam1', T0 + 1000, 'alert', 'alert', 'a1', null, [det('red', a1), det('blue', { x: 200, y: 100, w: 30, h: 30 })]],
    ['pm', 'cam1', T0 + 1000, 'missed', 'missed', null, 'vm', [det('red', a1)]],
    ['p2', 'cam1', T0 + 2000, 'alert', 'alert', 'a2', null, [det('green', { x: 101, y: 100, w: 50, h: 50 })]],
    ['p3', 'cam1', T0 + 3000, 'alert', 'alert', 'a3', null, [det('blue', a3)]],
    ['p4', 'cam1', T0 + 4000, 'capture', 'near_threshold', null, null, [det('red', { x: 5, y: 5, w: 20, h: 20 }, 0.3)]],
    ['p5', 'cam1', T0 + 5000, 'capture', 'random', null, null, []],
    ['p6', 'cam2', T0 + 6000, 'capture', 'random', null, null, []],
    ['px', 'cam1', T0 + 7000, 'missed', 'missed', null, 'vx', []],
  ];
  mkdirSync(join(pictures, 'cam1'), { recursive: true });
  mkdirSync(join(pictures, 'cam2'), { recursive: true });
  const jpeg = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 90, g: 90, b: 90 } } }).jpeg().toBuffer();
  for (const [id, camera, ts, kind, reason, alertId, verdictId, detections] of rows) {
    const file = `${camera}/${id}.jpg`;
    pic.run(id, camera, ts, kind, reason, alertId, verdictId, file, JSON.stringify(detections), ts);
    if (id !== 'p5') writeFileSync(join(pictures, file), jpeg);   // p5's file was lost
  }
  conn.close();
}

function exportedAt(): Record<string, number | null> {
  const conn = openDatabase(db, silentLogger());
  try {
    return Object.fromEntries(conn.prepare<[], { id: string; exported_at: number | null }>('SELECT id, exported_at FROM pictures ORDER BY id').all().map((r) => [r.id, r.exported_at]));
  } finally {
    conn.close();
  }
}

const run = (...args: string[]) => runCli(['dataset', 'export', '--config', config, ...args]);

beforeAll(async () => {
  writeFileSync(config, [
    'site: plant', 'line: l1',
    'cameras:', '  - { id: cam1, url: clip1.mp4 }', '  - { id: cam2, url: clip2.mp4 }',
    `model: { path: ${MODEL} }`, 'store: { path: line.db }', '',
  ].join('\n'));
  await fillStore();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('linesight dataset export (a process, a real SQLite store and JPEG files)', () => {
  it('writes the Ultralytics layout: labels from verdicts, a hard negative, pre-labels to review, a manifest; marks what it exported', async () => {
    const out = join(dir, 'yolo');
    const r = await run('--out', out, '--camera', 'cam1', '--val-share', '0.5');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('wrote 3 pictures');
    expect(r.stdout).toContain('2 pictures without a verdict left out'); // p3 (an alert nobody judged), px (its missed defect taken back)
    expect(r.stdout).toContain('1 pictures left out: their file is missing');

    const label = (id: string) => readFileSync(join(out, 'labels', splitOf(id, 0.5), `cam1_${id}.txt`), 'utf8');
    // red confirmed, green drawn as missed on the same frame, blue seen by the model but never judged
    expect(label('p1')).toBe([
      `0 ${(70 / W).toFixed(6)} ${(75 / H).toFixed(6)} ${(40 / W).toFixed(6)} ${(30 / H).toFixed(6)}`,
      `1 ${(20 / W).toFixed(6)} ${(20 / H).toFixed(6)} ${(20 / W).toFixed(6)} ${(20 / H).toFixed(6)}`,
      `2 ${(215 / W).toFixed(6)} ${(115 / H).toFixed(6)} ${(30 / W).toFixed(6)} ${(30 / H).toFixed(6)}`,
      '',
    ].join('\n'));
    expect(label('p2')).toBe('');   // the false alarm: the picture without its box
    expect(label('p4')).toBe(`0 ${(15 / W).toFixed(6)} ${(15 / H).toFixed(6)} ${(20 / W).toFixed(6)} ${(20 / H).toFixed(6)}\n`);
    for (const id of ['p1', 'p2', 'p4']) expect(existsSync(join(out, 'images', splitOf(id, 0.5), `cam1_${id}.jpg`))).toBe(true);
    const images = [...readdirSync(join(out, 'images/train')), ...readdirSync(join(out, 'images/val'))].sort();
    expect(images).toEqual(['cam1_p1.jpg', 'cam1_p2.jpg', 'cam1_p4.jpg']);

    expect(parse(readFileSync(join(out, 'data.yaml'), 'utf8'))).toEqual({ train: 'images/train', val: 'images/val', nc: 3, names: { 0: 'red', 1: 'green', 2: 'blue' } });
    expect(readFileSync(join(out, 'review.txt'), 'utf8').trim().split('\n').sort()).toEqual([`images/${splitOf('p1', 0.5)}/cam1_p1.jpg`, `images/${splitOf('p4', 0.5)}/cam1_p4.jpg`]);
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(m.schema).toBe('linesight.dataset/1');
    expect(m.model).toMatchObject({ file: 'squares-v8.onnx', version: 'fixture-1', classes: ['red', 'green', 'blue'] });
    expect(m.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.sources).toEqual({
      confirmed: { pictures: 1, boxes: 1 }, missed: { pictures: 1, boxes: 1 }, capture: { pictures: 1, boxes: 1 },
      unjudged: { pictures: 1, boxes: 1 }, false_alarm: { pictures: 1, boxes: 1 },
    });
    expect(m.left_out).toEqual({ unjudged: 2, duplicate_frame: 1, missing_file: 1, missed_without_picture: 0, unknown_classes: [] });
    expect(m.missing_files).toEqual(['cam1/p5.jpg']);
    expect(m.needs_review).toBe(2);
    expect(m.cameras).toEqual(['cam1']);
    expect(m.split.train.pictures + m.split.val.pictures).toBe(3);
    expect(m.pictures.find((p) => p.id === 'p1')).toMatchObject({ kind: 'alert', labels: 3, sources: ['confirmed', 'missed', 'unjudged'], needs_review: true });

    const marked = exportedAt();
    for (const id of ['p1', 'p2', 'p4']) expect(marked[id]).toBeGreaterThan(T0);
    for (const id of ['p3', 'p5', 'p6', 'px']) expect(marked[id]).toBeNull();
  });

  it('refuses a non-empty folder; --force replaces its export; COCO with the unjudged pictures added for review', async () => {
    const out = join(dir, 'yolo');
    const refused = await run('--out', out);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_DATASET: --out: expected an empty or new folder but .* holds 5 entries/);

    const r = await run('--out', out, '--force', '--format', 'coco', '--include-unjudged', '--val-share', '0', '--since', '2026-01-01T00:00:00Z', '--until', '2026-01-01T00:00:10Z');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(join(out, 'labels'))).toBe(false);
    expect(existsSync(join(out, 'data.yaml'))).toBe(false);
    const train = JSON.parse(readFileSync(join(out, 'annotations/instances_train.json'), 'utf8')) as Coco;
    const val = JSON.parse(readFileSync(join(out, 'annotations/instances_val.json'), 'utf8')) as Coco;
    expect(val.images).toEqual([]);
    expect(train.categories).toEqual([{ id: 1, name: 'red', supercategory: 'defect' }, { id: 2, name: 'green', supercategory: 'defect' }, { id: 3, name: 'blue', supercategory: 'defect' }]);
    expect(train.images.map((i) => i.file_name)).toEqual(['cam1_p1.jpg', 'cam1_p2.jpg', 'cam1_p3.jpg', 'cam1_p4.jpg', 'cam2_p6.jpg', 'cam1_px.jpg']);
    const px = train.images.find((i) => i.linesight_id === 'px')!;
    expect(train.annotations.filter((a) => a.image_id === px.id)).toEqual([]); // the withdrawn box is no label
    const p3 = train.images.find((i) => i.linesight_id === 'p3')!;
    expect(p3).toMatchObject({ width: W, height: H, needs_review: true });
    expect(train.annotations.filter((a) => a.image_id === p3.id)).toEqual([
      { id: expect.any(Number), image_id: p3.id, category_id: 3, bbox: [150, 20, 30, 30], area: 900, iscrowd: 0, linesight_source: 'unjudged' },
    ]);
    expect(train.annotations).toHaveLength(5);   // p1: 3, p3: 1, p4: 1; p2 is a negative, p6 empty
  });

  it('says what is wrong: an unknown camera, an empty period, a folder it cannot write', async () => {
    const camera = await run('--out', join(dir, 'x'), '--camera', 'cam9');
    expect(camera.code).toBe(1);
    expect(camera.stderr).toContain('E_CLI: --camera: expected a camera of this line (cam1, cam2) but received "cam9"');

    const empty = await run('--out', join(dir, 'x'), '--since', '2001-01-01T00:00:00Z', '--until', '2001-01-02T00:00:00Z');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('E_DATASET: Expected pictures to export but found no pictures between 2001-01-01T00:00:00.000Z and 2001-01-02T00:00:00.000Z');

    const unjudged = await run('--out', join(dir, 'x'), '--since', '2026-01-01T00:00:03Z', '--until', '2026-01-01T00:00:04Z');
    expect(unjudged.code).toBe(1);
    expect(unjudged.stderr).toContain('1 on alerts without a verdict (--include-unjudged adds them)');

    const notAFolder = join(dir, 'file');
    writeFileSync(notAFolder, 'x');
    const unwritable = await run('--out', join(notAFolder, 'sub'));
    expect(unwritable.code).toBe(1);
    expect(unwritable.stderr).toMatch(/E_DATASET: --out: expected a folder .* (cannot be read|is not writable)/);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });
});
