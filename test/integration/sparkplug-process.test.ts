/**
 * linesight run as users run it, with `mqtt.sparkplug` on: the real pipeline's
 * defects reach a Sparkplug host as DDATA carrying what the JSON alerts carry,
 * and a SIGKILL leaves the broker to publish the NDEATH (the connection's will)
 * with the session's bdSeq, which the next start increments.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/cli.js';
import { makeClip, type SquareSpec } from '../helpers/clips.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { metric, seqRuns, sparkplugHost, type HostMessage, type SparkplugHost } from '../helpers/sparkplug-host.js';
import { subscribe, type Subscriber } from '../helpers/subscriber.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const PLANTED: SquareSpec[] = [
  { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.5, to: 2.5 },
  { color: 'blue', x: 420, y: 300, w: 60, h: 60, from: 2.5, to: 4.5 },
];

let broker: Mosquitto | undefined;
let host: SparkplugHost | undefined;
let sub: Subscriber | undefined;
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await host?.close();
  host = undefined;
  await sub?.close();
  sub = undefined;
  await broker?.dispose();
  broker = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await expectNoStrays();
});
afterAll(() => killStrays());

const value = (m: HostMessage, name: string) => metric(m, name)?.value;

describe('linesight run as a Sparkplug B edge node', () => {
  it('sends the pipeline\'s defects as DDATA, and its NDEATH with the session\'s bdSeq when killed', async () => {
    broker = await startMosquitto();
    host = await sparkplugHost(broker.url, 'g1');
    sub = await subscribe(broker.url, 'linesight/s/l/+/alert');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 5, squares: PLANTED });
    const dir = mkdtempSync(join(tmpdir(), 'linesight-sparkplug-run-'));
    dirs.push(dir);
    const cfg = join(dir, 'line.yaml');
    writeFileSync(cfg, [
      'site: s', 'line: l',
      'cameras:', '  - id: cam1', `    url: ${clip}`, '    fps: 5', '    loop: false',
      'model:', `  path: ${MODEL}`, '  confidence: 0.5',
      'store:', `  path: ${join(dir, 'line.db')}`,
      'mqtt:', `  url: ${broker.url}`, '  sparkplug:', '    enabled: true', '    group_id: g1',
      'overlay:', '  host: 127.0.0.1', '  port: 0',
      'log:', '  level: warn',
    ].join('\n'));
    const run = () => {
      const child = spawn(process.execPath, [CLI, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      return child;
    };

    const first = run();
    const birth = await host.next((m) => m.type === 'NBIRTH', { timeoutMs: 30_000 });
    expect(birth.topic).toBe('spBv1.0/g1/NBIRTH/l'); // the edge node defaults to the line
    expect(value(birth, 'model/name')).toBe('squares-v8');
    const dbirth = await host.next((m) => m.type === 'DBIRTH' && m.device === 'cam1');
    expect(dbirth.metrics.filter((m) => m.name.startsWith('alerts/')).map((m) => m.name)).toEqual(['alerts/blue', 'alerts/green', 'alerts/red']);

    await sub.waitFor((m) => m.length >= 2, 30_000);
    const alerts = sub.messages.map((m) => m.body);
    expect(alerts.map((a) => a.class)).toEqual(['red', 'blue']);
    for (const a of alerts) {
      const d = await host.next((m) => m.type === 'DDATA' && value(m, 'defect/id') === a.id);
      expect(d.device).toBe('cam1');
      const box = a.box as { x: number; y: number; w: number; h: number };
      expect({
        seq: value(d, 'defect/seq'), class: value(d, 'defect/class'), confidence: value(d, 'defect/confidence'),
        box: { x: value(d, 'defect/box/x'), y: value(d, 'defect/box/y'), w: value(d, 'defect/box/w'), h: value(d, 'defect/box/h') },
        ts: metric(d, 'defect/id')?.timestamp, historical: metric(d, 'defect/id')?.isHistorical,
      }).toEqual({ seq: a.seq, class: a.class, confidence: a.confidence, box, ts: Date.parse(a.ts as string), historical: undefined });
      expect(value(d, `alerts/${a.class as string}`)).toBe(1);
    }

    // Killed: the broker publishes the connection's will, the NDEATH of this session.
    first.kill('SIGKILL');
    const death = await host.next((m) => m.type === 'NDEATH', { timeoutMs: 10_000 });
    expect(death.seq).toBeUndefined();
    expect(value(death, 'bdSeq')).toBe(value(birth, 'bdSeq'));

    // The next start counts on from the bdSeq kept in the database.
    const from = host.messages.length;
    run();
    const again = await host.next((m) => m.type === 'NBIRTH', { from, timeoutMs: 30_000 });
    expect(value(again, 'bdSeq')).toBe((value(birth, 'bdSeq') as number) + 1);
    for (const run of seqRuns(host.messages)) run.forEach((seq, i) => expect(seq).toBe(i % 256));
  });
});
