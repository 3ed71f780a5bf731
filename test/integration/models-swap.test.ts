import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { isLinesightError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { ROOT } from '../helpers/cli.js';
import { makeClip, type SquareSpec } from '../helpers/clips.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning } from '../helpers/mqtt-config.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';
import { sleep, waitFor } from '../helpers/wait.js';

const MODELS = join(ROOT, 'test/fixtures/models');
const V1 = join(MODELS, 'squares-v8.onnx'); // fixture-1
const V2 = join(MODELS, 'squares-v8-fixture2.onnx'); // fixture-2: blue never scores
const CAMERAS = ['cam1', 'cam2', 'cam3', 'cam4'];

let line: Line | undefined;
let broker: Mosquitto | undefined;
let sub: Subscriber | undefined;

afterEach(async () => {
  await line?.stop();
  line = undefined;
  await sub?.close();
  sub = undefined;
  await broker?.dispose();
  broker = undefined;
  await expectNoStrays();
});
afterAll(() => killStrays());

async function startFour(squares: SquareSpec[], seconds: number): Promise<{ line: Line; dir: string }> {
  broker = await startMosquitto();
  sub = await subscribe(broker.url, 'linesight/#');
  const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds, squares });
  const dir = mkdtempSync(join(tmpdir(), 'linesight-swap-'));
  const { config, problems } = validateConfig({
    site: 's', line: 'l',
    cameras: CAMERAS.map((id) => ({ id, url: clip, fps: 5, loop: false })),
    model: { path: V1, confidence: 0.5 },
    store: { path: join(dir, 'line.db') },
    mqtt: { url: broker.url },
    overlay: { host: '127.0.0.1', port: 0 },
  });
  expect(problems).toEqual([]);
  line = await startLine(config!, silentLogger(), { publisherTuning: fastTuning, overlay: false });
  return { line, dir };
}

const alertsOf = (messages: Received[]) => messages.filter((m) => m.topic.endsWith('/alert'));

/** Per camera, the longest time between two inspected frames whose results came within [from, to] (wall ms). */
function longestGap(inspected: Array<{ camera: string; at: number }>, from: number, to: number): Record<string, number> {
  const gaps: Record<string, number> = {};
  for (const cam of CAMERAS) {
    const times = inspected.filter((r) => r.camera === cam).map((r) => r.at);
    let gap = 0;
    for (let i = 1; i < times.length; i++) if (times[i] >= from && times[i - 1] <= to) gap = Math.max(gap, times[i] - times[i - 1]);
    gaps[cam] = gap;
  }
  return gaps;
}

describe('model changes on a running line (four file cameras, real mosquitto)', () => {
  it('swaps the model between batches: alerts carry the model of their frame, none lost or doubled', async () => {
    const { line: l } = await startFour([
      { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.5, to: 7.5 }, // in view across the swap: one alert
      { color: 'green', x: 420, y: 300, w: 60, h: 60, from: 1, to: 2.5 }, // before
      { color: 'blue', x: 250, y: 40, w: 60, h: 60, from: 1, to: 2.5 }, // before: fixture-1 finds blue
      { color: 'green', x: 420, y: 300, w: 60, h: 60, from: 5.5, to: 7.5 }, // after
      { color: 'blue', x: 250, y: 40, w: 60, h: 60, from: 5.5, to: 7.5 }, // after: fixture-2 never scores blue
    ], 8);
    const modelOfFrame = new Map<string, string>();
    const inspected: Array<{ camera: string; at: number }> = [];
    l.onInspected((r) => {
      modelOfFrame.set(`${r.frame.camera}@${Math.trunc(r.frame.captureTs)}`, r.model?.version ?? 'none');
      inspected.push({ camera: r.frame.camera, at: Date.now() });
    });
    // Every camera has alerted its first three defects (red, green, blue) before the swap.
    await sub!.waitFor((m) => alertsOf(m).length >= 12, 30_000);
    const swapStart = Date.now();
    const swap = await l.models.activate({ path: V2 }, { requestedBy: 'test' });
    const swapEnd = Date.now();
    expect(swap).toMatchObject({ swapped: true, active: { version: 'fixture-2' }, previous: { version: 'fixture-1' } });
    expect(l.models.active().version).toBe('fixture-2');
    expect(l.detector.info.version).toBe('fixture-2');
    await waitFor('the clips to end', () => l.cameras().every((c) => c.state === 'stopped'), 30_000);
    await sleep(1000); // anything extra would arrive now

    const alerts = alertsOf(sub!.messages);
    for (const cam of CAMERAS) {
      const mine = alerts.filter((a) => a.body.camera === cam);
      // red once (across the swap), green twice, blue only before: four alerts, consecutive seq.
      expect(mine.map((a) => `${a.body.class}/${(a.body.model as { version: string }).version}`).sort(),
        cam).toEqual(['blue/fixture-1', 'green/fixture-1', 'green/fixture-2', 'red/fixture-1']);
      expect(mine.map((a) => a.body.seq)).toEqual([1, 2, 3, 4]);
    }
    // The version on each alert is the one of the model that inspected its confirming frame.
    for (const a of alerts) {
      const key = `${a.body.camera}@${Date.parse(String(a.body.ts))}`;
      expect((a.body.model as { version: string }).version, `${key} among ${[...modelOfFrame.keys()].filter((k) => k.startsWith(String(a.body.camera))).slice(0, 12).join(' ')}`).toBe(modelOfFrame.get(key));
    }
    expect(new Set(alerts.map((a) => a.body.id)).size).toBe(alerts.length);
    const gaps = longestGap(inspected, swapStart, swapEnd);
    const before = longestGap(inspected.filter((r) => r.at < swapStart), 0, swapStart);
    console.log(`swap gap (longest time a camera went without an inspected frame during the promote, ${swapEnd - swapStart} ms load+swap): ${JSON.stringify(gaps)}; before the promote: ${JSON.stringify(before)}`);
  }, 90_000);

  it('refuses broken models with the old one still alerting, and rolls back to the previous model', async () => {
    const { line: l, dir } = await startFour([
      { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 4, to: 5.5 },
      { color: 'blue', x: 250, y: 40, w: 60, h: 60, from: 11, to: 12.5 },
    ], 13);
    const garbage = join(dir, 'broken.onnx');
    writeFileSync(garbage, Buffer.alloc(4096, 7));
    const refused = async (target: { path: string }) => {
      const err = await l.models.activate(target).then(() => undefined, (e: unknown) => e);
      expect(isLinesightError(err), String(err)).toBe(true);
      return err as { code: string; message: string };
    };
    expect((await refused({ path: garbage })).code).toBe('E_MODEL_LOAD');
    expect((await refused({ path: join(MODELS, 'bad-layout.onnx') })).code).toBe('E_MODEL_LAYOUT');
    const shape = await refused({ path: join(MODELS, 'squares-v8-640.onnx') });
    expect(shape.code).toBe('E_MODEL_SHAPE');
    expect(shape.message).toContain('640×640');
    expect((await refused({ path: join(dir, 'missing.onnx') })).code).toBe('E_MODEL_NOT_FOUND');
    expect(l.models.active().version).toBe('fixture-1');
    // The old model still alerts (red, from 4 s).
    await sub!.waitFor((m) => alertsOf(m).length >= 4, 30_000);
    expect(alertsOf(sub!.messages).map((a) => (a.body.model as { version: string }).version)).toEqual(Array(4).fill('fixture-1'));

    await l.models.activate({ path: V2 });
    expect(l.models.active().version).toBe('fixture-2');
    const back = await l.models.rollback({ requestedBy: 'test' });
    expect(back).toMatchObject({ swapped: true, active: { version: 'fixture-1' }, previous: { version: 'fixture-2' } });
    // Blue from 11 s: fixture-2 would not see it; the restored fixture-1 does.
    await sub!.waitFor((m) => alertsOf(m).length >= 8, 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(alertsOf(sub!.messages).map((a) => [a.body.camera, a.body.class, a.body.ts, a.body.model]))} cameras ${JSON.stringify(l.cameras().map((c) => [c.id, c.state]))}`);
    });
    const late = alertsOf(sub!.messages).slice(4);
    expect(late.map((a) => `${a.body.class}/${(a.body.model as { version: string }).version}`)).toEqual(Array(4).fill('blue/fixture-1'));
  }, 90_000);
});
