import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { iou } from '../../src/infer/evaluate.js';
import { readOnnxMetadata } from '../../src/infer/onnx-metadata.js';
import { silentLogger } from '../../src/log.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { sleep, waitFor } from '../helpers/wait.js';

/*
 * The loop a line runs to teach its model, end to end at a size CI affords:
 * cracks on this line look different from the synthetic training data (tinted
 * neon green, synth.py --restyle crack:neon), so the shipped model misses many.
 * The line runs a clip of a first stretch of frames; an operator (here the
 * frames' ground truth) confirms or rejects every alert and, on every frame an
 * alert was raised on, draws the defects the model missed, through the
 * overlay's HTTP API; `linesight dataset export` turns the kept pictures into a
 * dataset; the repository's own finetune.py trains on it a short while; and
 * the new model loads in linesight and finds more cracks than the old one on a
 * held-out stretch, scored by `linesight eval-model`.
 */

const PY = '/usr/bin/python3';
const TRAIN = join(ROOT, 'models/train');
const SHIPPED = join(ROOT, 'models/linesight-defects-v1.onnx');
const HAS_TORCH = spawnSync(PY, ['-c', 'import torch, onnx, PIL'], { stdio: 'ignore' }).status === 0;
if (!HAS_TORCH) process.stderr.write('finetune-e2e: skipped, /usr/bin/python3 lacks torch, onnx or PIL (scripts/install-test-deps.sh installs python3-torch python3-pil python3-onnx)\n');

const OPERATOR = 'operator-secret';
const SECONDS_PER_FRAME = 0.8;   // each still frame of the first stretch stays 4 camera frames in view at 5 fps
const STRETCH = { first: 40, heldOut: 60 };
const dir = mkdtempSync(join(tmpdir(), 'linesight-finetune-'));
let line: Line | undefined;
let broker: Mosquitto | undefined;

afterAll(async () => {
  await line?.stop();
  await broker?.dispose();
  killStrays();
  rmSync(dir, { recursive: true, force: true });
});

type Box = { x: number; y: number; w: number; h: number };
interface Labels { classes: string[]; images: Array<{ file: string; width: number; height: number; boxes: Array<Box & { class: number }> }> }
interface AlertPayload { id: string; className: string; box: Box; frame: { width: number; height: number; ts: number | string } }

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${out.slice(-3000)}`));
    });
  });
}

function post(base: string, path: string, body: unknown): Promise<Response> {
  return fetch(new URL(path, base), { method: 'POST', headers: { Authorization: `Bearer ${OPERATOR}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** A picture as 64×36 grey levels: enough to tell the stills of the clip apart, whatever the JPEG encoder did. */
async function thumbnail(file: string): Promise<Buffer> {
  return sharp(file).resize(64, 36, { fit: 'fill' }).greyscale().raw().toBuffer();
}

/** The index of the still a thumbnail shows (mean absolute difference); throws when two stills are about as near. */
function nearest(t: Buffer, stills: readonly Buffer[]): number {
  const diff = stills.map((s) => s.reduce((sum, v, i) => sum + Math.abs(v - t[i]), 0) / s.length);
  const order = diff.map((d, i) => [d, i]).sort((a, b) => a[0] - b[0]);
  if (order[1][0] < 2 * order[0][0]) throw new Error(`a kept picture looks like stills ${order[0][1]} and ${order[1][1]} alike (differences ${order[0][0].toFixed(1)} and ${order[1][0].toFixed(1)})`);
  return order[0][1];
}

/** Per-class recall at confidence 0.25 from `linesight eval-model`'s table. */
function recallOf(table: string, cls: string): number {
  const row = table.split('\n').find((l) => l.startsWith(`${cls} `));
  if (!row) throw new Error(`no ${cls} row in\n${table}`);
  return Number(row.trim().split(/\s+/)[4]);
}

describe.skipIf(!HAS_TORCH)('the line teaches its model: verdicts, dataset export, fine-tune, better recall on a held-out stretch', () => {
  it('finds more of the cracks it missed once fine-tuned on its operators\' verdicts', async () => {
    const first = join(dir, 'first');
    const heldOut = join(dir, 'held-out');
    const synth = (out: string, start: number, count: number, jpg: boolean) => run(PY, [join(TRAIN, 'synth.py'), '--split', 'test', '--start', String(start), '--count', String(count),
      '--size', '640x360', '--restyle', 'crack:neon', '--out', out, ...(jpg ? ['--jpg'] : [])], 300_000);
    await Promise.all([synth(first, 5000, STRETCH.first, true), synth(heldOut, 6000, STRETCH.heldOut, false)]);
    const truth = JSON.parse(readFileSync(join(first, 'labels.json'), 'utf8')) as Labels;
    const clip = join(dir, 'first.mp4');
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-framerate', String(1 / SECONDS_PER_FRAME), '-start_number', '5001', '-i', join(first, '%06d.jpg'),
      '-r', '5', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-g', '5', '-bf', '0', '-pix_fmt', 'yuv420p', clip], 60_000);

    // The line: the shipped model on the clip, alerts kept with their frames.
    broker = await startMosquitto();
    const configFile = join(dir, 'line.yaml');
    writeFileSync(configFile, [
      'site: plant', 'line: l1',
      `cameras: [{ id: cam1, url: ${clip}, fps: 5, loop: false }]`,
      `model: { path: ${SHIPPED} }`,
      'events: { confirm_hits: 2, confirm_window: 3, max_missed: 1 }',
      'store: { path: line.db }',
      `mqtt: { url: ${broker.url} }`,
      `overlay: { host: 127.0.0.1, port: 0, operator_token: ${OPERATOR} }`,
      'capture: { recall_s: 120, recall_fps: 10 }',   // every frame kept for the operator's drawings below
      'log: { level: silent }', '',
    ].join('\n'));
    line = await startLine(loadConfig(configFile), silentLogger());
    const base = line.overlay!.url;
    await sleep(STRETCH.first * SECONDS_PER_FRAME * 1000 + 3000);
    const alerts = ((await (await fetch(new URL('/api/alerts?limit=500', base))).json()) as { alerts: AlertPayload[] }).alerts;
    expect(alerts.length).toBeGreaterThan(5);

    // The operator: each alert confirmed or rejected against the truth of the picture its frame shows, and on every
    // frame an alert was raised on, each defect of that picture without a confirmed alert there drawn as missed, so
    // that every kept frame carries all its defects (a defect left off a frame would teach the model it is background).
    const store = new Database(join(dir, 'line.db'), { readonly: true });
    await waitFor('the pictures of the alerts', () => store.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM pictures WHERE kind = 'alert'").get()!.n >= alerts.length, 30_000);
    const kept = store.prepare<[], { alert_id: string; ts: number; file: string }>("SELECT alert_id, ts, file FROM pictures WHERE kind = 'alert'").all();
    const stills = await Promise.all(truth.images.map((img) => thumbnail(join(first, img.file))));
    const imageOf = new Map<string, number>();   // alert id -> the still its frame shows
    for (const k of kept) imageOf.set(k.alert_id, nearest(await thumbnail(join(dir, 'pictures', k.file)), stills));
    const frames = new Map<string, { ts: number; image: number; confirmed: Box[] }>();   // by frame time
    let confirmed = 0;
    for (const a of alerts) {
      const image = imageOf.get(a.id);
      if (image === undefined) throw new Error(`alert ${a.id} has no picture`);
      const truthBoxes = truth.images[image].boxes.filter((b) => truth.classes[b.class] === a.className);
      const hit = truthBoxes.some((b) => iou(b, a.box) >= 0.5);
      const frame = frames.get(String(a.frame.ts)) ?? { ts: new Date(a.frame.ts).getTime(), image, confirmed: [] };
      frames.set(String(a.frame.ts), frame);
      if (hit) {
        frame.confirmed.push(a.box);
        confirmed++;
      }
      const res = await post(base, `/api/alerts/${a.id}/verdict`, { verdict: hit ? 'confirmed' : 'false_alarm', operator: 'station 1' });
      expect(res.status).toBe(201);
    }
    let missed = 0;
    const drawnOn = new Map<string, number>();   // verdict id -> the still it was drawn on
    for (const f of frames.values()) {
      for (const t of truth.images[f.image].boxes) {
        if (f.confirmed.some((c) => iou(c, t) >= 0.5)) continue;
        const res = await post(base, '/api/cameras/cam1/missed', {
          class: truth.classes[t.class], box: { x: t.x, y: t.y, w: t.w, h: t.h }, frame: { width: 640, height: 360, ts: new Date(f.ts).toISOString() }, operator: 'station 1',
        });
        expect(res.status).toBe(201);
        drawnOn.set(((await res.json()) as { verdict: { id: string } }).verdict.id, f.image);
        missed++;
      }
    }
    const defects = truth.images.reduce((n, img) => n + img.boxes.length, 0);
    const shown = new Set([...frames.values()].map((f) => f.image));
    process.stderr.write(`finetune-e2e: ${alerts.length} alerts (${confirmed} confirmed, ${alerts.length - confirmed} false alarms) on ${frames.size} frames of ${shown.size} of the ${truth.images.length} pictures; ${missed} missed defects drawn; ${defects} defects in the first stretch\n`);
    expect(confirmed).toBeGreaterThan(0);
    expect(missed).toBeGreaterThan(0);
    await waitFor('the pictures of the missed defects', () => store.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM pictures WHERE kind = 'missed'").get()!.n >= missed, 30_000);
    // Each missed defect kept the frame it was drawn on, from the recall memory (every frame kept here): the same still.
    // A frame skipped while the one before was still being encoded (a loaded machine) leaves its neighbour, which may
    // show the next still; a few of those are tolerated and reported.
    let neighbours = 0;
    for (const p of store.prepare<[], { verdict_id: string; file: string }>("SELECT verdict_id, file FROM pictures WHERE kind = 'missed'").all()) {
      if (nearest(await thumbnail(join(dir, 'pictures', p.file)), stills) !== drawnOn.get(p.verdict_id)) neighbours++;
    }
    process.stderr.write(`finetune-e2e: ${neighbours} of ${missed} missed defects kept a neighbouring still's frame\n`);
    expect(neighbours).toBeLessThanOrEqual(Math.ceil(missed / 10));
    store.close();
    await line.stop();
    line = undefined;

    // Export, fine-tune, and score both models on the held-out stretch.
    const data = join(dir, 'dataset');
    const exported = await runCli(['dataset', 'export', '--config', configFile, '--out', data], { timeoutMs: 60_000 });
    expect(exported.stderr).toBe('');
    expect(exported.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(data, 'manifest.json'), 'utf8')) as { sources: Record<string, { boxes: number }> };
    expect(manifest.sources.confirmed.boxes).toBeGreaterThan(0);
    expect(manifest.sources.missed.boxes).toBeGreaterThan(0);

    process.stderr.write(`finetune-e2e: manifest sources ${JSON.stringify(manifest.sources)}\n`);
    const tuned = join(dir, 'tuned.onnx');
    const log = await run(PY, [join(TRAIN, 'finetune.py'), '--data', data, '--out', tuned, '--steps', '300', '--crop', '192',
      '--synth-count', '64', '--synth-val', '0', '--cache-dir', join(dir, 'cache')], 1_200_000);
    expect(log).toMatch(/base model read back: weights differ by 0, outputs \(onnxruntime, one frame\) by 0\b/);
    const meta = readOnnxMetadata(tuned).metadata;
    expect(meta.version).toBe('1.2.0');
    const parent = JSON.parse(meta.parent_model) as { name: string; version: string; sha256: string };
    expect(parent).toMatchObject({ name: 'linesight-defects-v1', version: '1.1.0' });
    expect(parent.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(meta.dataset)).toMatchObject({ name: 'dataset' });

    const before = await runCli(['eval-model', SHIPPED, '--data', heldOut], { timeoutMs: 120_000 });
    const after = await runCli(['eval-model', tuned, '--data', heldOut], { timeoutMs: 120_000 });
    expect(after.code).toBe(0);
    const [r0, r1] = [recallOf(before.stdout, 'crack'), recallOf(after.stdout, 'crack')];
    process.stderr.write(`finetune-e2e: crack recall on the held-out stretch ${r0} -> ${r1}\nshipped:\n${before.stdout}\nfine-tuned:\n${after.stdout}\n`);
    expect(r1).toBeGreaterThan(r0);
    await expectNoStrays();
  }, 1_800_000);
});
