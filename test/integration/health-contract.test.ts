import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { openStore } from '../../src/store/index.js';
import { makeClip } from '../helpers/clips.js';
import { DrivenMonitor } from '../helpers/driven-health.js';
import { launchChromium } from '../helpers/overlay-browser.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning } from '../helpers/mqtt-config.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';
import { sleep, waitFor } from '../helpers/wait.js';

const MODEL = join(import.meta.dirname, '../fixtures/models/squares-v8.onnx');
const SCHEMA = JSON.parse(readFileSync(join(import.meta.dirname, '../../docs/health.schema.json'), 'utf8')) as JsonSchema;
const HEALTH_TOPIC = 'linesight/plant/l1/cam1/health';
const STATUS_TOPIC = 'linesight/plant/l1/cam1/status';

/** The page's window, inside page.evaluate (the project compiles without the DOM lib). */
interface Styled { getComputedStyle(el: unknown): { filter: string } }

const dir = mkdtempSync(join(tmpdir(), 'linesight-health-'));
let broker: Mosquitto | undefined;
let sub: Subscriber | undefined;
let browser: Browser | undefined;
const lines: Line[] = [];

afterEach(async () => {
  for (const l of lines.splice(0)) await l.stop();
  await browser?.close();
  await sub?.close();
  await broker?.dispose();
  await expectNoStrays();
});
afterAll(() => {
  killStrays();
  rmSync(dir, { recursive: true, force: true });
});

function config(url: string, clip: string): Config {
  const { config: cfg, problems } = validateConfig({
    site: 'plant', line: 'l1',
    cameras: [{ id: 'cam1', url: clip, fps: 5 }],
    model: { path: MODEL, confidence: 0.5 },
    store: { path: join(dir, 'line.db') },
    mqtt: { url, protocol_version: 5 },
    overlay: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
  });
  if (!cfg) throw new Error(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return cfg;
}

async function start(cfg: Config, monitors: Map<string, DrivenMonitor>): Promise<Line> {
  const line = await startLine(cfg, silentLogger(), {
    publisherTuning: fastTuning,
    healthMonitor: (id) => {
      const m = new DrivenMonitor(id);
      monitors.set(id, m);
      return m;
    },
  });
  lines.push(line);
  return line;
}

/** Health events by first arrival of each id: at-least-once delivery may repeat one (the contract's dedup key is the id), never two ids for one change. */
function healthEvents(messages: Received[]): Received[] {
  const seen = new Set<unknown>();
  return messages.filter((m) => m.topic === HEALTH_TOPIC && !seen.has(m.body.id) && seen.add(m.body.id));
}
const lastStatus = (messages: Received[]) => messages.filter((m) => m.topic === STATUS_TOPIC).at(-1);
const statusHealth = (m: Received) => (m.body.health as { state: string; reasons: string[] } | null)?.state;

function expectContract(m: Received, state: string, reasons: string[], replayed: boolean): void {
  expect(checkSchema(SCHEMA, m.body)).toEqual([]);
  expect(m.qos).toBe(1);
  expect(m.retain).toBe(false);
  expect(m.userProperties).toMatchObject({ id: m.body.id, schema: 'linesight.health/1' });
  expect(m.body).toMatchObject({ schema: 'linesight.health/1', site: 'plant', line: 'l1', camera: 'cam1', state, reasons, replayed });
}

describe('camera health on MQTT, the status, the statistics and the page (real mosquitto, SQLite, Chromium)', () => {
  it('publishes each change once, stored first: through a broker outage and a restart, flagged replayed', async () => {
    broker = await startMosquitto();
    // Not a clean start: the broker keeps what linesight publishes while the test's own connection is away.
    sub = await subscribe(broker.url, 'linesight/plant/l1/#', { sessionId: 'health-contract' });
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 4, squares: [{ color: 'blue', x: 0, y: 100, w: 40, h: 40, vx: 60 }] });
    const cfg = config(broker.url, clip);
    const monitors = new Map<string, DrivenMonitor>();
    const line = await start(cfg, monitors);
    const monitor = await waitFor('the monitor of cam1 to see frames', () => {
      const m = monitors.get('cam1');
      return m && m.offered > 3 ? m : undefined;
    });
    await waitFor('frames inspected', () => line.cameras()[0].framesInspected > 3);

    // ok → degraded: one event, the status says so.
    monitor.set('degraded', ['dark']);
    await sub.waitFor((m) => healthEvents(m).length >= 1);
    await sub.waitFor((m) => m.some((x) => x.topic === STATUS_TOPIC && statusHealth(x) === 'degraded'));
    await waitFor('frames inspected while degraded', () => (line.cameras()[0].framesInspectedDegraded ?? 0) > 2);
    const status = sub.messages.filter((x) => x.topic === STATUS_TOPIC && statusHealth(x) === 'degraded').at(-1)!;
    // Retained: a subscriber arriving now is told at once (MQTT 5 §3.3.1.3).
    const late = await subscribe(broker.url, STATUS_TOPIC);
    try {
      await late.waitFor((m) => m.length > 0);
      expect(late.messages[0]).toMatchObject({ retain: true, body: { health: { state: 'degraded', reasons: ['dark'] } } });
    } finally {
      await late.close();
    }
    expect(status.body.health).toMatchObject({ state: 'degraded', reasons: ['dark'], learning: false });
    expect(Date.parse((status.body.health as { since: string }).since)).toBe(monitor.snapshot().since);

    // /metrics shows the health gauges and the degraded counts.
    const metrics = await (await fetch(`http://127.0.0.1:${line.overlay!.port}/metrics`)).text();
    expect(metrics).toContain('linesight_camera_health{camera="cam1",state="degraded"} 1');
    expect(metrics).toContain('linesight_camera_health{camera="cam1",state="ok"} 0');
    expect(metrics).toContain('linesight_camera_health_reason{camera="cam1",reason="dark"} 1');
    expect(metrics).toContain('linesight_camera_health_reason{camera="cam1",reason="frozen"} 0');
    expect(Number(/linesight_frames_inspected_degraded_total\{camera="cam1"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(Number(/linesight_camera_degraded_seconds_total\{camera="cam1"\} ([\d.e-]+)/.exec(metrics)?.[1])).toBeGreaterThan(0);

    // The operator page: the tile is greyed and its badge names the reason.
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
    await page.goto(line.overlay!.url);
    const tile = page.locator('.tile[data-camera="cam1"]');
    await waitFor('the tile to show the camera degraded', async () => (await tile.getAttribute('data-health', { timeout: 2000 })) === 'degraded', 15_000);
    expect(await tile.locator('.badge').textContent()).toBe('DARK');
    expect(await tile.locator('canvas').evaluate((el) => (globalThis as unknown as Styled).getComputedStyle(el).filter)).toBe('grayscale(1)');

    // degraded → ok: one more event; the page follows.
    monitor.set('ok', []);
    await sub.waitFor((m) => healthEvents(m).length >= 2);
    await sub.waitFor((m) => { const last = lastStatus(m); return last !== undefined && statusHealth(last) === 'ok'; });
    await waitFor('the tile to show the camera ok', async () => (await tile.getAttribute('data-health', { timeout: 2000 })) === 'ok', 15_000);
    await sleep(500); // a doubled event would have arrived by now
    const [degraded, ok] = healthEvents(sub.messages);
    expect(healthEvents(sub.messages)).toHaveLength(2);
    expectContract(degraded, 'degraded', ['dark'], false);
    expectContract(ok, 'ok', [], false);
    expect(ok.body.id).not.toBe(degraded.body.id);

    // The broker goes away: a change is stored, then delivered when it returns, flagged replayed.
    await waitFor('the health outbox to drain', () => line.store.healthOutbox.depth() === 0);
    await broker.stop();
    await waitFor('linesight to notice the broker is gone', () => !line.publisher.connected);
    monitor.set('degraded', ['frozen']);
    expect(line.store.healthOutbox.depth('cam1')).toBe(1);
    await broker.start();
    await sub.waitFor((m) => healthEvents(m).length >= 3, 20_000);
    expectContract(healthEvents(sub.messages)[2], 'degraded', ['frozen'], true);
    await waitFor('the health outbox to drain', () => line.store.healthOutbox.depth() === 0);

    // Down again: a change stored while the broker is away survives a restart of the line.
    await broker.stop();
    await waitFor('linesight to notice the broker is gone', () => !line.publisher.connected);
    monitor.set('ok', []);
    const undelivered = line.store.healthOutbox.pendingBatch(10);
    expect(undelivered.map((i) => i.event.state)).toEqual(['ok']);
    line.relearnHealth('cam1');
    expect(monitor.relearned).toBe(1);
    expect(() => line.relearnHealth('nope')).toThrow(/Expected the id of a running camera \(cam1\) but received "nope"/);
    await line.stop();
    lines.splice(0);
    expect(monitor.closed).toBe(true);
    expect(monitor.unreadable).toBe(0);

    // The statistics: the degraded period is in the camera's minutes.
    const stats = openStore(cfg.store.path, { outboxMaxRows: 10, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    const minutes = stats.statistics().minutes(0, Number.MAX_SAFE_INTEGER).filter((m) => m.camera === 'cam1');
    stats.close();
    expect(minutes.reduce((n, m) => n + m.framesInspectedDegraded, 0)).toBeGreaterThan(0);
    expect(minutes.reduce((n, m) => n + m.framesInspectedDegraded, 0)).toBeLessThanOrEqual(minutes.reduce((n, m) => n + m.framesInspected, 0));
    expect(minutes.reduce((n, m) => n + m.secondsDegraded, 0)).toBeGreaterThan(0);

    await broker.start();
    await start(cfg, new Map());
    await sub.waitFor((m) => healthEvents(m).length >= 4, 20_000);
    const last = healthEvents(sub.messages)[3];
    expectContract(last, 'ok', [], true);
    expect(last.body.id).toBe(undelivered[0].event.id);
  }, 120_000);
});
