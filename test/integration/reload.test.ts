import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/cli.js';
import { makeClip } from '../helpers/clips.js';
import { descendants, expectNoStrays, killStrays } from '../helpers/procs.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp.js';
import { subscribe, type Subscriber } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');

interface Running {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
const servers: RtspServer[] = [];
const subscribers: Subscriber[] = [];

function start(config: string): Running {
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const logs: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const lineText = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(lineText) as Record<string, unknown>);
      } catch {
        logs.push({ msg: lineText });
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, logs, exited };
}

async function healthz(run: Running): Promise<{ cameras: Array<{ id: string; state: string }> }> {
  const listening = run.logs.find((l) => l.msg === 'operator overlay listening');
  const res = await fetch(new URL('/healthz', String(listening!.url)));
  return (await res.json()) as { cameras: Array<{ id: string; state: string }> };
}

function yaml(dir: string, db: string, cameras: Array<{ id: string; url: string }>, extra = ''): string {
  const file = join(dir, 'line.yaml');
  writeFileSync(file, [
    'site: s', 'line: l',
    'cameras:', ...cameras.flatMap((c) => [`  - id: ${c.id}`, `    url: ${c.url}`, '    fps: 5']),
    'model:', `  path: ${MODEL}`, '  confidence: 0.5',
    'ingest:', '  backoff_initial: 0.2', '  backoff_max: 1',
    'store:', `  path: ${db}`,
    'mqtt:', '  embedded_port: 0',
    'overlay:', '  host: 127.0.0.1', '  port: 0',
    'log:', '  level: info',
    extra,
  ].join('\n'));
  return file;
}

afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await Promise.all(subscribers.splice(0).map((s) => s.close()));
  await expectNoStrays();
});
afterAll(() => killStrays());

describe('operations: SIGHUP reload and SIGTERM', () => {
  it('adds and removes a real RTSP camera on SIGHUP, refuses an invalid file and keeps running; the MES sees the added camera', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-reload-'));
    const db = join(dir, 'line.db');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 4, squares: [{ color: 'red', x: 50, y: 50, w: 60, h: 60 }] });
    const rtsp = await startRtspServer({ clip, loop: true });
    servers.push(rtsp);
    const file = yaml(dir, db, [{ id: 'cam1', url: clip }]);
    const run = start(file);
    await waitFor('cam1 online', async () => run.logs.some((l) => l.msg === 'camera online' && l.camera === 'cam1'), 30_000);

    yaml(dir, db, [{ id: 'cam1', url: clip }, { id: 'cam2', url: rtsp.url }]);
    run.child.kill('SIGHUP');
    await waitFor('cam2 added and online', async () => (await healthz(run)).cameras.some((c) => c.id === 'cam2' && c.state === 'online'), 30_000, 200);
    expect(run.logs.find((l) => l.msg === 'cameras reconfigured')).toMatchObject({ added: ['cam2'], removed: [], restarted: [] });
    const cam1Restarts = run.logs.filter((l) => l.msg === 'camera starting' && l.camera === 'cam1').length;
    expect(cam1Restarts).toBe(1); // untouched camera never noticed

    // The MES sees the added camera without a restart: on the node status, and a replay of its alerts is answered.
    const port = run.logs.find((l) => String(l.msg).startsWith('embedded MQTT broker'))!.port as number;
    const mes = await subscribe(`mqtt://127.0.0.1:${port}`, 'linesight/s/l/#', { protocolVersion: 4 });
    subscribers.push(mes);
    await mes.waitFor((m) => m.some((x) => x.topic === 'linesight/s/l/status' && JSON.stringify(x.body.cameras) === '["cam1","cam2"]'), 15_000);
    const reader = new Database(db, { readonly: true });
    await waitFor('an alert of cam2 stored', () => reader.prepare("SELECT COUNT(*) AS n FROM alerts WHERE camera = 'cam2'").pluck().get() as number > 0, 20_000, 200);
    reader.close();
    await mes.client.publishAsync('linesight/s/l/cmd/replay', JSON.stringify({ request_id: 'after-reload', camera: 'cam2', from_seq: 1, to_seq: 1 }), { qos: 1 });
    await mes.waitFor((m) => m.some((x) => x.topic === 'linesight/s/l/cmd/response'), 15_000);
    expect(mes.messages.find((x) => x.topic === 'linesight/s/l/cmd/response')!.body).toMatchObject({ request_id: 'after-reload', ok: true, sent: 1, missing: [] });

    writeFileSync(file, 'cameras: [\n'); // broken YAML
    run.child.kill('SIGHUP');
    await waitFor('the refusal', async () => run.logs.some((l) => String(l.msg).startsWith('reload refused')), 10_000);
    expect((await healthz(run)).cameras.map((c) => c.id).sort()).toEqual(['cam1', 'cam2']);

    yaml(dir, db, [{ id: 'cam1', url: clip }]);
    run.child.kill('SIGHUP');
    await waitFor('cam2 removed', async () => (await healthz(run)).cameras.every((c) => c.id !== 'cam2'), 20_000, 200);
    await waitFor('its ffmpeg gone, the other one still there', () => descendants(run.child.pid!).filter((p) => p.comm === 'ffmpeg').length === 1, 5000);
    await waitFor('the removal logged', () => run.logs.filter((l) => l.msg === 'cameras reconfigured').length === 2, 5000);
    expect(run.logs.filter((l) => l.msg === 'cameras reconfigured').at(-1)).toMatchObject({ added: [], removed: ['cam2'] });

    // A removed camera keeps its history: the MES may still ask for its alerts.
    await mes.client.publishAsync('linesight/s/l/cmd/replay', JSON.stringify({ request_id: 'after-removal', camera: 'cam2', from_seq: 1, to_seq: 1 }), { qos: 1 });
    await mes.waitFor((m) => m.some((x) => x.topic === 'linesight/s/l/cmd/response' && x.body.request_id === 'after-removal'), 15_000);
    const answered = mes.messages.findIndex((x) => x.topic === 'linesight/s/l/cmd/response' && x.body.request_id === 'after-removal');
    expect(mes.messages[answered].body).toMatchObject({ ok: true, sent: 1 });
    await mes.waitFor((m) => m.slice(answered).some((x) => x.topic === 'linesight/s/l/status' && JSON.stringify(x.body.cameras) === '["cam1"]'), 15_000);

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('exits 0 on SIGTERM during traffic, keeps the outbox and leaves no ffmpeg behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-term-'));
    const db = join(dir, 'line.db');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 6, squares: [{ color: 'red', x: 50, y: 50, w: 60, h: 60, from: 0.5 }] });
    // A broker that is never there: alerts accumulate in the outbox.
    const file = yaml(dir, db, [1, 2, 3].map((i) => ({ id: `cam${i}`, url: clip })), '');
    writeFileSync(file, readFileSync(file, 'utf8').replace('  embedded_port: 0', '  url: mqtt://127.0.0.1:9'));
    const run = start(file);
    await waitFor('alerts waiting', async () => run.logs.filter((l) => l.stage === 'events').length >= 3, 30_000);
    const pid = run.child.pid!;
    const started = Date.now();
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(descendants(pid)).toEqual([]);
    const d = new Database(db, { readonly: true });
    const { n } = d.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number };
    expect((d.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check).toBe('ok');
    d.close();
    expect(n).toBeGreaterThanOrEqual(3);
  });
});
