import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { LineContext } from '../../src/context/line-context.js';
import { groupReport } from '../../src/context/report.js';
import { EventsStage } from '../../src/events/stage.js';
import { silentLogger } from '../../src/log.js';
import { openStore } from '../../src/store/index.js';
import { openSideConnection } from '../../src/store/side-connection.js';
import type { DefectEvent, InspectedFrame } from '../../src/types.js';
import { captureLogger } from '../helpers/capture-log.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeClip, type SquareSpec } from '../helpers/clips.js';
import { DrivenMonitor } from '../helpers/driven-health.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning } from '../helpers/mqtt-config.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const ALERT_SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/alert.schema.json'), 'utf8')) as JsonSchema;
const CONTEXT_SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/context.schema.json'), 'utf8')) as JsonSchema;
const HEALTH_SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/health.schema.json'), 'utf8')) as JsonSchema;
const VERDICT_SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/verdict.schema.json'), 'utf8')) as JsonSchema;
const TOPIC = 'linesight/s/l/context';

/** Two defects, seconds apart. */
const TWO_DEFECTS: SquareSpec[] = [
  { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.3, to: 2 },
  { color: 'red', x: 420, y: 300, w: 60, h: 60, from: 4.5, to: 7 },
];

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

function lineConfig(clip: string, db: string, url: string, loop = false) {
  const { config, problems } = validateConfig({
    site: 's', line: 'l',
    cameras: [{ id: 'cam1', url: clip, fps: 5, loop }],
    model: { path: MODEL, confidence: 0.5 },
    store: { path: db },
    mqtt: { url },
    overlay: { host: '127.0.0.1', port: 0 },
  });
  if (!config) throw new Error(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return config;
}

async function publish(url: string, topic: string, body: string, retain = true): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5 });
  await client.publishAsync(topic, body, { qos: 1, retain });
  await client.endAsync();
}

/** Messages on `topic` by first arrival of each id (at-least-once delivery may repeat one). */
function firstOf(messages: Received[], topic: string): Received[] {
  const seen = new Set<unknown>();
  return messages.filter((m) => m.topic === topic && !seen.has(m.body.id) && seen.add(m.body.id));
}

/** An operator action on the overlay (no tokens configured: open to the overlay's own page). */
async function operatorPost(base: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(new URL(path, base), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, `POST ${path}`).toBe(201);
  return ((await res.json()) as { verdict: Record<string, unknown> }).verdict;
}

const contextRows = (db: string) => {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT ts, source, json FROM context_changes ORDER BY id').all() as Array<{ ts: number; source: string; json: string }>;
  } finally {
    d.close();
  }
};

describe('production context from the MES (real mosquitto, real SQLite)', () => {
  it('stamps each alert with the lot in force when its frame was captured, keeps it across restarts, ignores a malformed message once', async () => {
    broker = await startMosquitto();
    const db = join(mkdtempSync(join(tmpdir(), 'linesight-context-')), 'line.db');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 7, squares: TWO_DEFECTS });
    const lotA = { order: 'O-1', lot: 'A', product: 'cap-red', extra: { line_speed: 3 }, ts: new Date(Date.now() - 60_000).toISOString() };
    expect(checkSchema(CONTEXT_SCHEMA, lotA)).toEqual([]);
    await publish(broker.url, TOPIC, JSON.stringify(lotA));
    sub = await subscribe(broker.url, 'linesight/s/l/+/alert');
    const logs = captureLogger('info');
    line = await startLine(lineConfig(clip, db, broker.url), logs.log, { publisherTuning: fastTuning });
    await sub.waitFor((m) => m.length >= 1, 20_000);
    // Between the two defects: lot B, from now on. Then two malformed messages with the same fault.
    const changeAt = Date.now();
    await publish(broker.url, TOPIC, JSON.stringify({ order: 'O-1', lot: 'B', ts: new Date(changeAt).toISOString() }));
    await waitFor('lot B in force', () => line!.context.current()?.lot === 'B', 5000);
    await publish(broker.url, TOPIC, '{"lot":"C"}', false);
    await publish(broker.url, TOPIC, '{"lot":"D"}', false);
    await sub.waitFor((m) => m.length >= 2, 20_000);
    const [first, second] = sub.messages.map((m) => m.body);
    expect(Date.parse(first.ts as string)).toBeLessThan(changeAt);
    expect(Date.parse(second.ts as string)).toBeGreaterThanOrEqual(changeAt);
    expect(first.context).toEqual({ ...lotA, ts: new Date(lotA.ts).toISOString() });
    expect(second.context).toEqual({ order: 'O-1', lot: 'B', ts: new Date(changeAt).toISOString() });
    for (const a of [first, second]) expect(checkSchema(ALERT_SCHEMA, a)).toEqual([]);
    // Malformed: ignored (B stays), logged once for the one fault.
    expect(line.context.current()?.lot).toBe('B');
    const faults = logs.at('warn').filter((l) => l.code === 'E_CONTEXT');
    expect(faults).toHaveLength(1);
    expect(faults[0].msg).toMatch(/^context message on linesight\/s\/l\/context ignored: ts: expected ts as an ISO 8601 time/);
    // The stamp is stored with the alert row (a replay carries the same one).
    const stored = line.store.recentAlerts({ limit: 10 }).map((a) => a.context?.lot).reverse();
    expect(stored).toEqual(['A', 'B']);
    await line.stop();

    // Restart with the retained message gone: the context comes from SQLite.
    await publish(broker.url, TOPIC, '', true);
    line = await startLine(lineConfig(clip, db, broker.url), silentLogger(), { publisherTuning: fastTuning });
    expect(line.context.current()?.lot).toBe('B');
    await line.stop();
    // Restart with the retained message there again: no second row for the same change.
    await publish(broker.url, TOPIC, JSON.stringify({ lot: 'B', order: 'O-1', ts: new Date(changeAt).toISOString() }));
    line = await startLine(lineConfig(clip, db, broker.url), silentLogger(), { publisherTuning: fastTuning });
    await new Promise((r) => setTimeout(r, 1500));
    expect(contextRows(db).map((r) => [JSON.parse(r.json).lot, r.source])).toEqual([['A', 'mqtt'], ['B', 'mqtt']]);
    await line.stop();
    line = undefined;
    // Grouped by lot: alerts by their stamp, every inspected frame of the statistics under some lot.
    const side = openSideConnection(db);
    try {
      const report = groupReport(side, 'lot', 0, Date.now());
      // The restarts replay the clip from its start: its first square may alert again, under lot B.
      const underB = (side.prepare("SELECT COUNT(*) AS n FROM alerts WHERE json_extract(json, '$.context.lot') = 'B'").get() as { n: number }).n;
      expect(underB).toBeGreaterThanOrEqual(1);
      expect(report.map((r) => [r.key, r.alerts, r.classes])).toEqual([['A', 1, { red: 1 }], ['B', underB, { red: underB }]]);
      const frames = (side.prepare('SELECT SUM(frames_inspected) AS n FROM aggregates').get() as { n: number }).n;
      expect(frames).toBeGreaterThan(0);
      expect(report.reduce((n, r) => n + r.framesInspected, 0)).toBe(frames);
    } finally {
      side.close();
    }
  });

  it('stamps by capture time: an event confirmed after a change, on a frame captured before it, keeps the earlier context', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'linesight-stamp-')), 'line.db');
    const store = openStore(db, { outboxMaxRows: 100, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    const context = new LineContext({ db: openSideConnection(db), log: silentLogger() });
    try {
      const t0 = Date.parse('2025-03-04T05:00:00.000Z');
      const msg = (lot: string, ts: number) => ({ topic: TOPIC, retained: false, payload: Buffer.from(JSON.stringify({ lot, ts: new Date(ts).toISOString() })) });
      context.message(msg('A', t0));
      context.message(msg('B', t0 + 1000)); // received before the frames below are inspected
      const config = lineConfig('x.mp4', db, 'mqtt://127.0.0.1:1');
      const events: DefectEvent[] = [];
      const stage = new EventsStage({ ...config, events: { ...config.events, confirm_hits: 2, confirm_window: 2 } }, {
        record: (e) => {
          events.push(e);
          return store.recordEvent(e);
        },
        stored: () => {}, counted: () => {}, context: (ts) => context.at(ts),
      }, silentLogger());
      stage.addCamera(config.cameras[0]);
      const frame = (seq: number, captureTs: number, x: number): InspectedFrame => ({
        frame: { camera: 'cam1', seq, captureTs, captureMono: seq, width: 640, height: 480, pictured: false },
        detections: [{ classId: 0, className: 'red', confidence: 0.9, box: { x, y: 100, w: 40, h: 40 } }],
        inferredAt: captureTs + 5000, latencyMs: 5000, inferMs: 10, batchSize: 1,
      });
      // Defect 1 confirmed on a frame captured 1 ms before B took effect; defect 2 on one captured at it.
      stage.inspect(frame(1, t0 + 800, 100));
      stage.inspect(frame(2, t0 + 999, 100));
      stage.inspect(frame(3, t0 + 1000, 400));
      stage.inspect(frame(4, t0 + 1200, 400));
      stage.close();
      expect(events.map((e) => [e.ts - t0, e.context?.lot])).toEqual([[999, 'A'], [1200, 'B']]);
      expect(store.recentAlerts({ limit: 5 }).map((a) => a.context?.lot)).toEqual(['B', 'A']);
    } finally {
      context.close();
      store.close();
    }
  });

  it('stamps health events by when the change began and verdicts by the judged frame, across a context change', async () => {
    broker = await startMosquitto();
    const db = join(mkdtempSync(join(tmpdir(), 'linesight-context-stamps-')), 'line.db');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 3, squares: [TWO_DEFECTS[0]] });
    const lotA = { order: 'O-7', lot: 'A', product: 'cap-red', ts: new Date(Date.now() - 60_000).toISOString() };
    await publish(broker.url, TOPIC, JSON.stringify(lotA));
    sub = await subscribe(broker.url, 'linesight/s/l/cam1/+');
    let monitor: DrivenMonitor | undefined;
    line = await startLine(lineConfig(clip, db, broker.url, true), silentLogger(), {
      publisherTuning: fastTuning,
      healthMonitor: (id) => (monitor = new DrivenMonitor(id)),
    });
    await waitFor('lot A in force', () => line!.context.current()?.lot === 'A', 5000);
    await sub.waitFor((m) => m.some((x) => x.topic === 'linesight/s/l/cam1/alert'), 20_000);
    const alert = sub.messages.find((x) => x.topic === 'linesight/s/l/cam1/alert')!.body;
    expect(alert.context).toMatchObject({ lot: 'A' });

    // Lot B from now on. The degraded change began 1 ms before it (reported after it, as a
    // real monitor does after its hold time); the ok change began after it.
    const changeAt = Date.now();
    await publish(broker.url, TOPIC, JSON.stringify({ order: 'O-7', lot: 'B', ts: new Date(changeAt).toISOString() }));
    await waitFor('lot B in force', () => line!.context.current()?.lot === 'B', 5000);
    const contextA = { ...lotA };
    const contextB = { order: 'O-7', lot: 'B', ts: new Date(changeAt).toISOString() };
    monitor!.set('degraded', ['dark'], changeAt - 1);
    monitor!.set('ok', []);

    // A verdict on the alert captured under A, given under B; missed defects drawn on frames before and after the change.
    const base = line.overlay!.url;
    const judged = await operatorPost(base, `/api/alerts/${String(alert.id)}/verdict`, { verdict: 'confirmed', operator: 'station 1' });
    const drawn = { class: 'green', box: { x: 10, y: 20, w: 30, h: 40 }, frame: { width: 640, height: 480 }, operator: 'station 1' };
    const missedBefore = await operatorPost(base, '/api/cameras/cam1/missed', { ...drawn, frame: { ...drawn.frame, ts: new Date(changeAt - 1).toISOString() } });
    const missedAfter = await operatorPost(base, '/api/cameras/cam1/missed', { ...drawn, frame: { ...drawn.frame, ts: new Date(changeAt).toISOString() } });
    expect([judged, missedBefore, missedAfter].map((v) => (v.context as { lot?: string } | undefined)?.lot)).toEqual(['A', 'A', 'B']);

    await sub.waitFor((m) => firstOf(m, 'linesight/s/l/cam1/health').length >= 2 && firstOf(m, 'linesight/s/l/cam1/verdict').length >= 3, 15_000);
    const health = firstOf(sub.messages, 'linesight/s/l/cam1/health');
    expect(health.map((m) => [m.body.state, m.body.ts, m.body.context])).toEqual([
      ['degraded', new Date(changeAt - 1).toISOString(), contextA],
      ['ok', expect.any(String), contextB],
    ]);
    expect(Date.parse(health[1].body.ts as string)).toBeGreaterThanOrEqual(changeAt);
    const verdicts = firstOf(sub.messages, 'linesight/s/l/cam1/verdict');
    expect(verdicts.map((m) => [m.body.id, m.body.alert_id, m.body.verdict, m.body.context])).toEqual([
      [judged.id, alert.id, 'confirmed', contextA],
      [missedBefore.id, null, 'missed', contextA],
      [missedAfter.id, null, 'missed', contextB],
    ]);
    for (const m of health) expect(checkSchema(HEALTH_SCHEMA, m.body), `health ${String(m.body.state)}`).toEqual([]);
    for (const m of verdicts) expect(checkSchema(VERDICT_SCHEMA, m.body), `verdict ${String(m.body.verdict)}`).toEqual([]);
  }, 60_000);

  it('picks up `linesight context set` (another process) in the running line', async () => {
    broker = await startMosquitto();
    const dir = mkdtempSync(join(tmpdir(), 'linesight-cli-context-'));
    const db = join(dir, 'line.db');
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 2 });
    const cfgFile = join(dir, 'line.yaml');
    writeFileSync(cfgFile, ['site: s', 'line: l', 'cameras:', '  - id: cam1', `    url: ${clip}`, 'model:', `  path: ${MODEL}`, 'store:', `  path: ${db}`, 'mqtt:', `  url: ${broker.url}`].join('\n'));
    line = await startLine(lineConfig(clip, db, broker.url, true), silentLogger(), { publisherTuning: fastTuning });
    expect(line.context.current()).toBeUndefined();
    const set = await runCli(['context', 'set', '--lot', 'L-42', '--order', 'O-9', '--extra', '{"tank":2}', '--config', cfgFile]);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    await waitFor('the running line to read the CLI change', () => line!.context.current()?.lot === 'L-42', 5000);
    expect(line.context.current()).toMatchObject({ lot: 'L-42', order: 'O-9', extra: { tank: 2 } });
    const show = await runCli(['context', 'show', '--json', '--config', cfgFile]);
    expect(JSON.parse(show.stdout)).toMatchObject({ current: { lot: 'L-42' }, changes: [{ lot: 'L-42', source: 'cli' }] });
    const bad = await runCli(['context', 'set', '--lot', 'x', '--ts', 'soon', '--config', cfgFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/E_CONTEXT: The context is not valid: ts: expected ts as an ISO 8601 time/);
  });
});
