import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { CLI, ROOT } from '../helpers/cli.js';
import { makeClip, type SquareSpec } from '../helpers/clips.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';
import { startMosquitto, freePort, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning } from '../helpers/mqtt-config.js';
import { descendants, expectNoStrays, killStrays } from '../helpers/procs.js';
import { subscribe, type Subscriber } from '../helpers/subscriber.js';
import { waitFor, sleep } from '../helpers/wait.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/alert.schema.json'), 'utf8')) as JsonSchema;

/** Three planted defects: two static, one moving across the frame. */
const PLANTED: SquareSpec[] = [
  { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.5, to: 3 },
  { color: 'red', x: 420, y: 300, w: 60, h: 60, from: 4, to: 7 },
  { color: 'green', x: 0, y: 200, w: 50, h: 50, from: 1, to: 7, vx: 60 },
];

let line: Line | undefined;
let broker: Mosquitto | undefined;
let sub: Subscriber | undefined;
const children: ChildProcess[] = [];

afterEach(async () => {
  await line?.stop();
  line = undefined;
  await sub?.close();
  sub = undefined;
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await broker?.dispose();
  broker = undefined;
  await expectNoStrays();
});
afterAll(() => killStrays());

describe('defects become MQTT alerts (real mosquitto, real SQLite)', () => {
  it('gives exactly one alert per planted defect, payload as documented, box in source pixels', async () => {
    broker = await startMosquitto();
    sub = await subscribe(broker.url, 'linesight/#');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 8, squares: PLANTED });
    const { config, problems } = validateConfig({
      site: 'plant-a', line: 'l2',
      cameras: [{ id: 'cam1', url: clip, fps: 5, loop: false }],
      model: { path: MODEL, confidence: 0.5 },
      store: { path: join(mkdtempSync(join(tmpdir(), 'linesight-alerts-')), 'line.db') },
      mqtt: { url: broker.url, protocol_version: 5 },
      overlay: { host: '127.0.0.1', port: 0 },
    });
    expect(problems).toEqual([]);
    line = await startLine(config!, silentLogger(), { publisherTuning: fastTuning });
    await waitFor('the clip to end', () => line!.cameras()[0].state === 'stopped', 30_000);
    await sub.waitFor((m) => m.filter((x) => x.topic.endsWith('/alert')).length >= 3, 10_000);
    await sleep(1000); // anything extra would arrive now
    const alerts = sub.messages.filter((m) => m.topic === 'linesight/plant-a/l2/cam1/alert');
    expect(alerts.map((a) => a.body.class).sort()).toEqual(['green', 'red', 'red']);
    for (const a of alerts) {
      expect(checkSchema(SCHEMA, a.body)).toEqual([]);
      expect(a.qos).toBe(1);
      expect(a.retain).toBe(false);
      expect(a.userProperties).toMatchObject({ id: a.body.id, schema: 'linesight.alert/1' });
      expect(a.body).toMatchObject({ site: 'plant-a', line: 'l2', camera: 'cam1', replayed: false, model: { name: 'squares-v8', version: 'fixture-1' } });
    }
    expect(alerts.map((a) => a.body.seq)).toEqual([1, 2, 3]);
    const firstRed = alerts.find((a) => a.body.class === 'red' && (a.body.box as { x: number }).x < 300)!;
    const box = firstRed.body.box as { x: number; y: number; w: number; h: number };
    for (const [k, v] of Object.entries({ x: 100, y: 100, w: 60, h: 60 })) expect(Math.abs(box[k as keyof typeof box] - v)).toBeLessThanOrEqual(3);
    expect(firstRed.body.frame).toMatchObject({ width: 640, height: 480 });
    // Status topics are retained: a late subscriber gets them at once (MQTT 5 §3.3.1.3).
    const late = await subscribe(broker.url, 'linesight/plant-a/l2/#');
    try {
      await late.waitFor((m) => m.some((x) => x.topic === 'linesight/plant-a/l2/cam1/status' && x.retain)
        && m.some((x) => x.topic === 'linesight/plant-a/l2/status' && x.retain && x.body.state === 'online'), 5000);
      expect(late.messages.filter((m) => m.topic.endsWith('/alert'))).toEqual([]); // alerts are never retained
    } finally {
      await late.close();
    }
    // The history keeps them after sending.
    expect(line.store.recentAlerts({ limit: 10 }).map((a) => a.status)).toEqual(['sent', 'sent', 'sent']);
  });

  it('loses nothing when linesight is SIGKILLed with the broker down, and its ffmpeg dies with it', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'linesight-kill-'));
    const db = join(dir, 'line.db');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 8, squares: PLANTED });
    const cfg = join(dir, 'line.yaml');
    writeFileSync(cfg, [
      'site: s', 'line: l',
      'cameras:', `  - id: cam1`, `    url: ${clip}`, '    fps: 5', '    loop: false',
      'model:', `  path: ${MODEL}`, '  confidence: 0.5',
      'store:', `  path: ${db}`,
      'mqtt:', `  url: mqtt://127.0.0.1:${port}`,
      'overlay:', '  host: 127.0.0.1', '  port: 0',
      'log:', '  level: warn',
    ].join('\n'));
    const run = () => {
      const child = spawn(process.execPath, [CLI, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      return child;
    };
    const pending = () => {
      const d = new Database(db, { readonly: true, fileMustExist: true });
      try {
        return d.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number };
      } finally {
        d.close();
      }
    };
    const first = run();
    await waitFor('three alerts waiting in the outbox', () => pending().n >= 3, 40_000, 200);
    const ffmpegPids = descendants(first.pid!).filter((p) => p.comm === 'ffmpeg').map((p) => p.pid);
    first.kill('SIGKILL');
    await waitFor('ffmpeg to die with its parent', () => ffmpegPids.every((pid) => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }), 5000);
    const stored = new Database(db, { readonly: true });
    const ids = (stored.prepare('SELECT a.id FROM alerts a').all() as Array<{ id: string }>).map((r) => r.id);
    expect((stored.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check).toBe('ok');
    stored.close();
    expect(ids.length).toBeGreaterThanOrEqual(3);

    broker = await startMosquitto({ port });
    sub = await subscribe(broker.url, 'linesight/s/l/+/alert');
    run();
    await sub.waitFor((m) => ids.every((id) => m.some((x) => x.body.id === id)), 30_000);
    const replayed = sub.messages.filter((m) => ids.includes(m.body.id as string));
    expect(replayed.every((m) => m.body.replayed === true)).toBe(true);
    const seqs = sub.messages.map((m) => m.body.seq as number);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs); // in seq order
  });
});
