import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/cli.js';
import { makeClip, type SquareSpec } from '../helpers/clips.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const PLANTED: SquareSpec[] = [
  { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.5, to: 2 },
  { color: 'green', x: 400, y: 260, w: 60, h: 60, from: 2.5, to: 3.8 },
];

const dir = mkdtempSync(join(tmpdir(), 'linesight-ntp-'));
let broker: Mosquitto | undefined;
let sub: Subscriber | undefined;
let child: ChildProcess | undefined;

afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  await sub?.close();
  sub = undefined;
  await broker?.dispose();
  broker = undefined;
  await expectNoStrays();
});
afterAll(() => {
  killStrays();
  rmSync(dir, { recursive: true, force: true });
});

const alertsOf = (messages: readonly Received[]) => messages.filter((m) => m.topic.endsWith('/alert'));

describe.skipIf(!existsSync(LIBFAKETIME))('linesight run while NTP steps the wall clock (libfaketime)', () => {
  it('keeps seq increasing and ids unique, says what happened, and stops cleanly', async () => {
    broker = await startMosquitto();
    sub = await subscribe(broker.url, 'linesight/#');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 4, squares: PLANTED });
    const offset = join(dir, 'offset');
    writeFileSync(offset, '+0\n');
    const cfg = join(dir, 'line.yaml');
    writeFileSync(cfg, [
      'site: s', 'line: l',
      'cameras:', '  - id: cam1', `    url: ${clip}`, '    fps: 5', '    loop: true', '    realtime: true',
      'model:', `  path: ${MODEL}`, '  confidence: 0.5',
      'store:', `  path: ${join(dir, 'line.db')}`,
      'mqtt:', `  url: ${broker.url}`,
      'overlay:', '  host: 127.0.0.1', '  port: 0',
    ].join('\n'));
    // The wall clock (CLOCK_REALTIME) is read through the offset file, at most once a second; the monotonic clock is left alone, as NTP does.
    child = spawn(process.execPath, [CLI, 'run', '--config', cfg], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

    await sub.waitFor((m) => alertsOf(m).length >= 2, 30_000);
    const beforeStep = alertsOf(sub.messages).length;
    writeFileSync(offset, '-1h\n');
    await sub.waitFor((m) => alertsOf(m).length >= beforeStep + 3, 30_000);
    const duringStep = alertsOf(sub.messages).length;
    writeFileSync(offset, '+0\n');
    await sub.waitFor((m) => alertsOf(m).length >= duringStep + 3, 30_000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    child = undefined;

    const alerts = alertsOf(sub.messages).map((m) => m.body as { id: string; seq: number; ts: string });
    // seq counts on in the database, whatever the wall clock says; ids stay unique (UUIDv7 keeps its own order across a step back).
    expect(alerts.map((a) => a.seq)).toEqual(alerts.map((_, i) => i + 1));
    expect(new Set(alerts.map((a) => a.id)).size).toBe(alerts.length);
    expect([...alerts.map((a) => a.id)].sort()).toEqual(alerts.map((a) => a.id));
    // ts is the box's wall clock at capture: an hour back while the clock was stepped back.
    const ts = alerts.map((a) => Date.parse(a.ts));
    const jumps = ts.slice(1).map((t, i) => t - ts[i]);
    expect(jumps.filter((d) => d < -50 * 60_000)).toHaveLength(1);
    expect(jumps.filter((d) => d > 50 * 60_000)).toHaveLength(1);
    // The statistics noticed each step once; nothing crashed or restarted for it.
    expect(out.match(/wall clock stepped back by 36\d\d s/g)).toHaveLength(1);
    expect(out.match(/wall clock stepped forward by 36\d\d s/g)).toHaveLength(1);
    expect(out).not.toMatch(/"level":(50|60)/);
  });
});
