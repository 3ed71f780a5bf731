import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import type { TrackView } from '../../src/events/index.js';
import { silentLogger } from '../../src/log.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeClip, type SquareSpec } from '../helpers/clips.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning } from '../helpers/mqtt-config.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';
import { sleep, waitFor } from '../helpers/wait.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const RECIPE_SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/recipe.schema.json'), 'utf8')) as { $defs: Record<string, JsonSchema> };

/** Always in view: a red square on the left half, a blue and a green one on the right half (the fixture model boxes each colour once). */
const SQUARES: SquareSpec[] = [
  { color: 'red', x: 100, y: 100, w: 60, h: 60 },
  { color: 'blue', x: 420, y: 300, w: 60, h: 60 },
  { color: 'green', x: 480, y: 100, w: 50, h: 50 },
];
const LEFT = [[0, 0], [320, 0], [320, 480], [0, 480]];
const RIGHT = [[320, 0], [640, 0], [640, 480], [320, 480]];

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

async function publish(url: string, topic: string, body: object): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5 });
  await client.publishAsync(topic, JSON.stringify(body), { qos: 1, retain: true });
  await client.endAsync();
}

const alerts = (m: Received[]) => m.filter((x) => x.topic.endsWith('/alert')).map((x) => x.body);
const states = (m: Received[]) => m.filter((x) => x.topic === 'linesight/s/l/recipe').map((x) => x.body);
const events = (m: Received[]) => m.filter((x) => x.topic === 'linesight/s/l/recipe/event').map((x) => x.body);

describe('recipes selected through the broker (real mosquitto, real SQLite)', () => {
  it('holds the configuration\'s thresholds while no recipe is active, though the detector decodes at the recipes\' lowest', async () => {
    broker = await startMosquitto();
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 4, squares: SQUARES });
    const { config, problems } = validateConfig({
      site: 's', line: 'l',
      cameras: [{ id: 'cam1', url: clip, fps: 5, loop: true }],
      // The fixture model gives every square 0.9: under the configuration's 0.95, over the recipe's 0.5.
      model: { path: MODEL, confidence: 0.95 },
      recipes: { low: { confidence: 0.5 } },
      store: { path: join(mkdtempSync(join(tmpdir(), 'linesight-recipes-')), 'line.db') },
      mqtt: { url: broker.url },
    });
    expect(problems).toEqual([]);
    sub = await subscribe(broker.url, 'linesight/s/l/#');
    line = await startLine(config!, silentLogger(), { publisherTuning: fastTuning, overlay: false });
    let inspected = 0;
    let detected = 0;
    line.onInspected((r) => {
      inspected++;
      detected += r.detections.length;
    });
    await waitFor('three seconds of frames', () => inspected >= 15, 20_000);
    expect(detected).toBe(0);
    expect(alerts(sub.messages)).toEqual([]);
    await publish(broker.url, 'linesight/s/l/recipe/set', { recipe: 'low', requested_by: 'mes' });
    await sub.waitFor((m) => alerts(m).length >= 3, 20_000);
    expect(alerts(sub.messages).every((a) => a.recipe === 'low')).toBe(true);
  });

  it('switches thresholds and regions between two frames, stamps alerts, refuses an unknown recipe, keeps the active one across restarts', async () => {
    broker = await startMosquitto();
    const dir = mkdtempSync(join(tmpdir(), 'linesight-recipes-'));
    const db = join(dir, 'line.db');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 4, squares: SQUARES });
    const raw = {
      site: 's', line: 'l',
      cameras: [{ id: 'cam1', url: clip, fps: 5, loop: true }],
      model: { path: MODEL, confidence: 0.5 },
      recipes: { left: { cameras: { cam1: { roi: LEFT } } }, right: { ignore_classes: ['green'], cameras: { cam1: { roi: RIGHT } } }, broken: { model: join(dir, 'missing.onnx') } },
      recipe: { default: 'left' },
      store: { path: db },
      mqtt: { url: broker.url },
      overlay: { host: '127.0.0.1', port: 0 },
    };
    const { config, problems } = validateConfig(raw);
    expect(problems).toEqual([]);
    sub = await subscribe(broker.url, 'linesight/s/l/#');
    line = await startLine(config!, silentLogger(), { publisherTuning: fastTuning });
    const frames: Array<{ green: boolean; live: TrackView[] }> = [];
    line.onInspected((r, tracks) => frames.push({ green: r.detections.some((d) => d.className === 'green'), live: tracks.filter((t) => t.missed === 0) }));
    await sub.waitFor((m) => alerts(m).length >= 1 && states(m).some((s) => s.recipe === 'left'), 20_000);
    expect(states(sub.messages)[0]).toMatchObject({ schema: 'linesight.recipe/1', recipe: 'left', requested_by: 'recipe.default', model: { name: 'squares-v8' } });
    expect(checkSchema(RECIPE_SCHEMA.$defs.state, states(sub.messages)[0])).toEqual([]);

    await publish(broker.url, 'linesight/s/l/recipe/set', { recipe: 'right', requested_by: 'mes-7', ts: new Date().toISOString() });
    await sub.waitFor((m) => alerts(m).some((a) => a.recipe === 'right'), 20_000);
    await sub.waitFor((m) => states(m).some((s) => s.recipe === 'right') && events(m).some((e) => e.outcome === 'applied'), 5000);
    expect(states(sub.messages).at(-1)).toMatchObject({ recipe: 'right', requested_by: 'mes-7' });
    const applied = events(sub.messages).find((e) => e.outcome === 'applied')!;
    expect(applied).toMatchObject({ recipe: 'right', requested_by: 'mes-7', active: 'right' });
    expect(checkSchema(RECIPE_SCHEMA.$defs.event, applied)).toEqual([]);
    // One boundary between two frames: before it green counts and only the left half is tracked, after it neither.
    const boundary = frames.findIndex((f) => !f.green);
    expect(boundary).toBeGreaterThan(0);
    expect(frames.slice(0, boundary).every((f) => f.green && f.live.every((t) => t.box.x < 320))).toBe(true);
    expect(frames.slice(boundary).every((f) => !f.green && f.live.every((t) => t.box.x >= 320))).toBe(true);
    const got = alerts(sub.messages).map((a) => [a.recipe, a.class, (a.box as { x: number }).x < 320 ? 'left' : 'right']);
    expect(got).toEqual([['left', 'red', 'left'], ['right', 'blue', 'right']]);

    // Unknown: refused with the reason, the running recipe stays.
    await publish(broker.url, 'linesight/s/l/recipe/set', { recipe: 'nope', requested_by: 'mes-7' });
    await sub.waitFor((m) => events(m).some((e) => e.outcome === 'refused'), 5000);
    const refused = events(sub.messages).find((e) => e.outcome === 'refused')!;
    expect(refused).toMatchObject({ recipe: 'nope', reason: 'unknown_recipe', active: 'right', message: expect.stringContaining('Expected one of the configured recipes (left, right, broken)') });
    expect(checkSchema(RECIPE_SCHEMA.$defs.event, refused)).toEqual([]);
    expect(line.recipes.active).toBe('right');
    // A recipe whose model does not load: refused with the model's error, the running recipe stays.
    await publish(broker.url, 'linesight/s/l/recipe/set', { recipe: 'broken', requested_by: 'mes-7' });
    await sub.waitFor((m) => events(m).some((e) => e.recipe === 'broken'), 10_000);
    expect(events(sub.messages).find((e) => e.recipe === 'broken')).toMatchObject({
      outcome: 'refused', reason: 'model_failed', active: 'right', message: expect.stringMatching(/^E_MODEL_NOT_FOUND: /),
    });
    expect(line.recipes.active).toBe('right');
    await line.stop();

    // Restart: the active recipe comes back; the retained refused request arriving again is not a new request.
    const before = sub.messages.length;
    line = await startLine(config!, silentLogger(), { publisherTuning: fastTuning });
    expect(line.recipes.active).toBe('right');
    await sub.waitFor((m) => m.slice(before).some((x) => x.topic === 'linesight/s/l/recipe' && x.body.recipe === 'right'), 5000);
    await sleep(1500);
    expect(events(sub.messages.slice(before))).toEqual([]);

    // The command line, as a separate process, while the line runs.
    const cfgFile = join(dir, 'line.json');
    writeFileSync(cfgFile, JSON.stringify(raw));
    const cli = await runCli(['recipe', 'set', 'left', '--by', 'lead', '--config', cfgFile]);
    expect(cli.stderr).toBe('');
    expect(cli).toMatchObject({ code: 0, stdout: 'recipe left active\n' });
    await waitFor('left active', () => line!.recipes.active === 'left', 2000);
    const unknown = await runCli(['recipe', 'set', 'nope', '--config', cfgFile]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/E_RECIPE: Expected one of the configured recipes \(left, right, broken\) but received "nope"/);
  });
});
