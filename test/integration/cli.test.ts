import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { ContextHistory } from '../../src/context/history.js';
import { ModelRegistry } from '../../src/models/registry.js';
import { RecipeChanges } from '../../src/recipes/changes.js';
import { openStore } from '../../src/store/index.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';
import { writeMinutes } from '../helpers/stats-data.js';

const MODELS = join(ROOT, 'test/fixtures/models');

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'linesight-cli-')), 'line.yaml');
  writeFileSync(file, yaml);
  return file;
}

describe('linesight check-config', () => {
  it('accepts the demo config with a one-line summary', async () => {
    const r = await runCli(['check-config', 'config/default.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^config\/default\.yaml: valid — site demo-plant, line line1, 1 of 1 camera\(s\) enabled/);
  });

  it('prints every problem with its key path and exits 1', async () => {
    const file = configFile(`
cameras:
  - id: cam1
    url: rtsp://10.0.0.5/s1
  - id: cam2
    url: rtsp://10.0.0.6/s1
    fps: ten
    stall_timout: 40
model:
  path: ${MODELS}/squares-v8.onnx
  iou: 2
mqtt:
  protocol_version: 3
`);
    const r = await runCli(['check-config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('4 problem(s) (E_CONFIG)');
    expect(r.stderr).toContain('cameras[1].fps: expected positive number, received "ten" (string)');
    expect(r.stderr).toContain('cameras[1].stall_timout: unknown key');
    expect(r.stderr).toContain('model.iou: expected number between 0 and 1, received 2 (number)');
    expect(r.stderr).toContain('mqtt.protocol_version: expected 5 (MQTT 5) or 4 (MQTT 3.1.1), received 3 (number)');
  });

  it('names a missing model file', async () => {
    const file = configFile('cameras:\n  - id: c\n    url: a.mp4\nmodel:\n  path: missing.onnx\n');
    const r = await runCli(['check-config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/model\.path: expected an existing \.onnx file, received ".*missing\.onnx" \(no such file\)/);
  });

  it('reports unreadable YAML with E_CONFIG_READ', async () => {
    const r = await runCli(['check-config', configFile('cameras: [\n')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_CONFIG_READ');
  });
});

describe('linesight inspect-model', () => {
  it('describes inputs, outputs, layout, classes and provider', async () => {
    const r = await runCli(['inspect-model', join(MODELS, 'squares-v8.onnx'), '--providers', 'tensorrt,cpu']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('input      images float32 [batch, 3, 320, 320]');
    expect(r.stdout).toContain('output     output0 float32 [batch, 7, 3]');
    expect(r.stdout).toContain('layout     YOLOv8/YOLO11 [batch, 4+classes, anchors]');
    expect(r.stdout).toContain('classes    0:red 1:green 2:blue');
    expect(r.stdout).toContain('provider   cpu (tried: tensorrt ▸ cpu)');
  });

  it('says YOLOv5 for a YOLOv5 export and prints JSON on request', async () => {
    const r = await runCli(['inspect-model', join(MODELS, 'squares-v5.onnx'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ layout: 'yolov5', classNames: ['red', 'green', 'blue'], provider: 'cpu', opset: 17 });
  });

  it.each([
    ['bad-rank.onnx', 'E_MODEL_SHAPE'],
    ['bad-layout.onnx', 'E_MODEL_LAYOUT'],
    ['does-not-exist.onnx', 'E_MODEL_NOT_FOUND'],
  ])('refuses %s with %s and exit 1', async (file, code) => {
    const r = await runCli(['inspect-model', join(MODELS, file)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`linesight: ${code}: [Ee]xpected`));
  });
});

describe('linesight run refuses bad input before starting anything', () => {
  it('exits 1 naming the config problems', async () => {
    const r = await runCli(['run', '--config', configFile('cameras: []\nmodel:\n  path: x.onnx\n')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_CONFIG');
    expect(r.stderr).toContain('cameras: expected at least one camera');
  });

  it('exits 1 with E_MODEL_SHAPE for a model with the wrong input rank', async () => {
    const r = await runCli(['run', '--config', configFile(`cameras:\n  - id: c\n    url: a.mp4\nmodel:\n  path: ${MODELS}/bad-rank.onnx\n`)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_MODEL_SHAPE: Expected the model input "images" to be an image batch of rank 4 .* but found rank 3 \[3, 320, 320\]/);
  });

  it('prints help for each command', async () => {
    for (const cmd of ['run', 'check-config', 'inspect-model', 'bench']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: linesight ${cmd}`);
    }
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('E_CLI');
  });
});

describe('linesight sync --now, run as its own process', () => {
  it('keeps retrying through failed answers (the retries are all that keeps it alive) and exits 0 once the batch is accepted, with the shadow runs\' comparison and the production timeline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-sync-now-'));
    const db = join(dir, 'line.db');
    const store = openStore(db, { outboxMaxRows: 100, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    // Yesterday noon (UTC): the 30 minutes lie in one UTC day, so they make one batch whatever the time of the run.
    const start = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 12 * 3_600_000;
    writeMinutes(store.statistics(), start, 30, ['cam1']);
    // A candidate ran in the shadow of the active model for ten of those minutes and found one defect.
    const registry = new ModelRegistry(store.statistics().db);
    const model = (hash: string, version: string) => registry.put({ hash, name: 'm', version, classes: ['scratch'], inputWidth: 320, inputHeight: 320, file: `${hash}.onnx`, source: 'test', addedAt: start });
    model('a'.repeat(64), '1.0.0');
    model('b'.repeat(64), '1.1.0');
    registry.shadowRun({ modelHash: 'b'.repeat(64), activeHash: 'a'.repeat(64), camera: 'cam1', startedAt: start, endedAt: start + 600_000, frames: 3000, skipped: 2 });
    registry.shadowEvent(makeEvent({ camera: 'cam1', ts: start + 60_000 }), 'b'.repeat(64), 'a'.repeat(64));
    // The production timeline: a lot in force since the day before, a new lot within the period; a recipe applied before it and a refused one within.
    const context = (lot: string, ts: number) => ({ order: 'O-1', lot, operator: null, extra: {}, ts: new Date(ts).toISOString() });
    const history = new ContextHistory(store.statistics().db);
    history.record(context('L-1', start - 86_400_000), start - 86_400_000, start - 86_400_000, 'mqtt');
    history.record(context('L-0', start - 2 * 86_400_000), start - 2 * 86_400_000, start - 2 * 86_400_000, 'mqtt');
    history.record(context('L-2', start + 900_000), start + 900_000, start + 900_000, 'cli');
    const recipes = new RecipeChanges(store.statistics().db);
    recipes.add({ receivedAt: start - 3_600_000, source: 'mqtt', recipe: 'bottle-500ml', requestedBy: 'mes', request: '{}', outcome: 'applied', decidedAt: start - 3_600_000 });
    recipes.add({ receivedAt: start + 60_000, source: 'mqtt', recipe: 'nope', request: '{}', outcome: 'refused', reason: 'unknown_recipe', decidedAt: start + 60_000 });
    store.close();
    const answers = [500, 500, 200];
    const seen: number[] = [];
    const bodies: Buffer[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks));
        const status = answers[Math.min(seen.length, answers.length - 1)];
        seen.push(status);
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const file = configFile(`cameras:\n  - id: cam1\n    url: a.mp4\nmodel:\n  path: missing.onnx\nstore:\n  path: ${db}\nsync:\n  url: http://127.0.0.1:${port}/ingest\n`);
      const r = await runCli(['sync', '--now', '--config', file], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(seen).toEqual([500, 500, 200]);
      expect(r.stdout).toMatch(/1 batch/);
      const batch = JSON.parse(gunzipSync(bodies.at(-1)!).toString('utf8')) as { model_comparisons?: Array<Record<string, unknown>>; context_changes?: unknown[]; recipe_changes?: unknown[] };
      expect(batch.context_changes).toEqual([context('L-1', start - 86_400_000), context('L-2', start + 900_000)]);
      expect(batch.recipe_changes).toEqual([{ ts: new Date(start - 3_600_000).toISOString(), recipe: 'bottle-500ml', requested_by: 'mes' }]);
      expect(checkSchema(JSON.parse(readFileSync(join(ROOT, 'docs/aggregates.schema.json'), 'utf8')) as JsonSchema, batch)).toEqual([]);
      expect(batch.model_comparisons).toHaveLength(1);
      expect(batch.model_comparisons![0]).toMatchObject({ candidate_model: { version: '1.1.0' }, active_model: { version: '1.0.0' }, frames: 3000, skipped: 2 });
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('linesight alerts, run as its own process', () => {
  it('lists the stored alerts since a time, oldest first, sent or queued, as JSON lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-alerts-cli-'));
    try {
      const db = join(dir, 'line.db');
      const store = openStore(db, { outboxMaxRows: 100, outboxFullPolicy: 'drop_oldest' }, silentLogger());
      const now = Date.now();
      const old = store.recordEvent(makeEvent({ ts: now - 3 * 3_600_000, className: 'dent' }));
      const sent = store.recordEvent(makeEvent({ ts: now - 20 * 60_000, className: 'scratch' }));
      store.recordEvent(makeEvent({ ts: now - 5 * 60_000, className: 'hole' }));
      store.markSent([store.pendingBatch(10).find((i) => i.event.className === 'scratch')!.id]);
      store.close();
      expect(old.seq).toBe(1);
      const file = configFile(`cameras:\n  - id: cam1\n    url: a.mp4\nmodel:\n  path: missing.onnx\nstore:\n  path: ${db}\n`);
      const r = await runCli(['alerts', '--since', '1h', '--json', '--config', file]);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { class: string; status: string; seq: number });
      expect(lines.map((l) => [l.class, l.status, l.seq])).toEqual([['scratch', 'sent', sent.seq], ['hole', 'queued', 3]]);

      const bad = await runCli(['alerts', '--since', 'yesterday-ish', '--config', file]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/--since/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('linesight eval-model, run as its own process', () => {
  it('scores a model on a labelled folder through the pipeline\'s letterbox and prints mAP50 last', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-eval-cli-'));
    try {
      const images = [];
      for (let i = 0; i < 4; i++) {
        const x = 40 + i * 90;
        const y = 60 + i * 40;
        const square = await sharp({ create: { width: 70, height: 70, channels: 3, background: { r: 230, g: 30, b: 30 } } }).png().toBuffer();
        await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 64, g: 64, b: 64 } } })
          .composite([{ input: square, left: x, top: y }]).png().toFile(join(dir, `p${i}.png`));
        images.push({ file: `p${i}.png`, width: 640, height: 480, boxes: [{ class: 0, x, y, w: 70, h: 70 }] });
      }
      writeFileSync(join(dir, 'labels.json'), JSON.stringify({ classes: ['red', 'green', 'blue'], images }));
      const r = await runCli(['eval-model', join(MODELS, 'squares-v8.onnx'), '--data', dir], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      const last = r.stdout.trim().split('\n').at(-1) ?? '';
      expect(last).toMatch(/^mAP50=\d\.\d{4}$/);
      expect(Number(last.slice('mAP50='.length))).toBeGreaterThanOrEqual(0.9);
      expect(r.stdout).toMatch(/red/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
