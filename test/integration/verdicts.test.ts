import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import type { OverlayConfig } from '../../src/config/schema.js';
import { startOverlay, type Overlay } from '../../src/overlay/server.js';
import { openStore } from '../../src/store/index.js';
import { makeClip } from '../helpers/clips.js';
import { makeEvent } from '../helpers/events.js';
import { HandSource } from '../helpers/overlay-source.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning } from '../helpers/mqtt-config.js';
import { connectPage, type Received as Page } from '../helpers/overlay-client.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = join(import.meta.dirname, '../..');
const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/verdict.schema.json'), 'utf8')) as JsonSchema;
const VERDICT_TOPIC = 'linesight/plant/l1/cam1/verdict';
const VIEWER = 'viewer-secret';
const OPERATOR = 'operator-secret';

const dir = mkdtempSync(join(tmpdir(), 'linesight-verdicts-'));
let line: Line | undefined;
let broker: Mosquitto | undefined;
let sub: Subscriber | undefined;
let page: Page | undefined;
let overlay: Overlay | undefined;

afterEach(async () => {
  page?.ws.close();
  await overlay?.close();
  overlay = undefined;
  await line?.stop();
  await sub?.close();
  await broker?.dispose();
  await expectNoStrays();
});
afterAll(() => {
  killStrays();
  rmSync(dir, { recursive: true, force: true });
});

/** Verdict messages by first arrival of each id (at-least-once delivery may repeat one). */
function verdicts(messages: Received[]): Received[] {
  const seen = new Set<unknown>();
  return messages.filter((m) => m.topic === VERDICT_TOPIC && !seen.has(m.body.id) && seen.add(m.body.id));
}

function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(new URL(path, base), {
    method: 'POST',
    headers: { Authorization: `Bearer ${OPERATOR}`, 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function expectContract(m: Received, verdict: string, replayed: boolean): void {
  expect(checkSchema(SCHEMA, m.body)).toEqual([]);
  expect(m.qos).toBe(1);
  expect(m.retain).toBe(false);
  expect(m.userProperties).toMatchObject({ id: m.body.id, schema: 'linesight.verdict/1' });
  expect(m.body).toMatchObject({ schema: 'linesight.verdict/1', site: 'plant', line: 'l1', camera: 'cam1', verdict, replayed });
}

describe('operator verdicts over HTTP, MQTT, the page and the statistics (real line, mosquitto, SQLite)', () => {
  it('refuses what it must, stores and publishes each verdict once, counts the latest per alert, replays after an outage', async () => {
    broker = await startMosquitto();
    sub = await subscribe(broker.url, 'linesight/plant/l1/#', { sessionId: 'verdicts' });
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 6, squares: [{ color: 'red', x: 100, y: 80, w: 50, h: 50, from: 0.5, to: 5 }] });
    const { config, problems } = validateConfig({
      site: 'plant', line: 'l1',
      cameras: [{ id: 'cam1', url: clip, fps: 5 }],
      model: { path: MODEL, confidence: 0.5 },
      store: { path: join(dir, 'line.db') },
      mqtt: { url: broker.url, protocol_version: 5 },
      overlay: { host: '127.0.0.1', port: 0, token: VIEWER, operator_token: OPERATOR },
      log: { level: 'silent' },
    });
    expect(problems).toEqual([]);
    line = await startLine(config!, silentLogger(), { publisherTuning: fastTuning });
    const base = line.overlay!.url;
    page = await connectPage(base, { token: VIEWER });
    await waitFor('the hello', () => page!.of('hello').length > 0);
    expect(page.of('hello')[0].operatorActions).toBe('token');

    await sub.waitFor((m) => m.some((x) => x.topic === 'linesight/plant/l1/cam1/alert'), 30_000);
    const alert = sub.messages.find((x) => x.topic === 'linesight/plant/l1/cam1/alert')!.body;
    const path = `/api/alerts/${String(alert.id)}/verdict`;
    const good = { verdict: 'confirmed', operator: 'station 3' };

    // The refusals, each saying what was expected.
    expect((await post(base, path, good, { Authorization: '' })).status).toBe(401);
    const viewer = await post(base, path, good, { Authorization: `Bearer ${VIEWER}` });
    expect(viewer.status).toBe(403);
    expect(((await viewer.json()) as { message: string }).message).toMatch(/expected the operator token/);
    expect((await post(base, path, good, { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(base, path, good, { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await post(base, path, { ...good, pad: 'x'.repeat(5000) })).status).toBe(413);
    const badBody = await post(base, path, { verdict: 'maybe', operator: 'station 3' });
    expect(badBody.status).toBe(400);
    expect(((await badBody.json()) as { message: string }).message).toContain('"confirmed" or "false_alarm" but received');
    expect((await post(base, path, '{not json')).status).toBe(400);
    expect((await post(base, '/api/alerts/0190a0a0-0000-7000-8000-000000000000/verdict', good)).status).toBe(404);
    expect((await post(base, '/api/cameras/nope/missed', { class: 'red', box: { x: 1, y: 1, w: 5, h: 5 }, frame: { width: 320, height: 240 }, operator: 'x' })).status).toBe(404);
    expect((await post(base, '/api/cameras/cam1/missed', { class: 'red', box: { x: 300, y: 1, w: 50, h: 5 }, frame: { width: 320, height: 240 }, operator: 'x' })).status).toBe(400);
    expect((await post(base, '/api/cameras/cam1/missed', { class: 'purple', box: { x: 1, y: 1, w: 5, h: 5 }, frame: { width: 320, height: 240 }, operator: 'x' })).status).toBe(400);

    // Confirmed, then a second verdict refused (409 names the first), then replaced by a false alarm.
    const first = await post(base, path, good);
    expect(first.status).toBe(201);
    const confirmed = ((await first.json()) as { verdict: Record<string, unknown> }).verdict;
    expect(confirmed).toMatchObject({ alert_id: alert.id, camera: 'cam1', verdict: 'confirmed', class: alert.class, box: alert.box, operator: 'station 3' });
    const conflict = await post(base, path, { verdict: 'false_alarm', operator: 'station 4' });
    expect(conflict.status).toBe(409);
    expect(((await conflict.json()) as { message: string }).message).toContain('confirmed by "station 3"');
    const second = await post(base, path, { verdict: 'false_alarm', operator: 'station 4', replace: true });
    expect(second.status).toBe(201);
    const falseAlarm = ((await second.json()) as { verdict: Record<string, unknown> }).verdict;
    expect(falseAlarm).toMatchObject({ verdict: 'false_alarm', replaces: confirmed.id });
    const drawn = { class: 'green', box: { x: 10, y: 20, w: 30, h: 40 }, frame: { width: 320, height: 240, ts: '2026-12-05T09:30:00.250Z' }, operator: 'station 3' };
    const third = await post(base, '/api/cameras/cam1/missed', drawn);
    expect(third.status).toBe(201);

    // A missed defect drawn by mistake, taken back; the refusals first.
    const mistake = (await (await post(base, '/api/cameras/cam1/missed', { ...drawn, class: alert.class, box: { x: 200, y: 100, w: 20, h: 20 } })).json()) as { verdict: Record<string, unknown> };
    const withdrawPath = (id: unknown) => `/api/verdicts/${String(id)}/withdraw`;
    const onAlert = await post(base, withdrawPath(confirmed.id), { operator: 'station 3' });
    expect(onAlert.status).toBe(400);
    expect(((await onAlert.json()) as { message: string }).message).toContain(`is a verdict on alert ${String(alert.id)}`);
    expect((await post(base, withdrawPath('0190a0a0-0000-7000-8000-000000000000'), { operator: 'station 3' })).status).toBe(404);
    expect((await post(base, withdrawPath(mistake.verdict.id), { operator: 'station 3' }, { Authorization: `Bearer ${VIEWER}` })).status).toBe(403);
    expect((await post(base, withdrawPath(mistake.verdict.id), {})).status).toBe(400);
    const back = await post(base, withdrawPath(mistake.verdict.id), { operator: 'station 3' });
    expect(back.status).toBe(201);
    const withdrawal = ((await back.json()) as { verdict: Record<string, unknown> }).verdict;
    expect(withdrawal).toMatchObject({ verdict: 'missed', alert_id: null, withdrawn: true, replaces: mistake.verdict.id, class: alert.class, box: mistake.verdict.box });
    expect(withdrawal.id).not.toBe(mistake.verdict.id);
    const again = await post(base, withdrawPath(mistake.verdict.id), { operator: 'station 4' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { message: string }).message).toContain('already withdrawn by "station 3"');
    expect((await post(base, withdrawPath(withdrawal.id), { operator: 'station 3' })).status).toBe(400); // a withdrawal is not a missed defect

    await sub.waitFor((m) => verdicts(m).length >= 5);
    const [m1, m2, m3, m4, m5] = verdicts(sub.messages);
    expectContract(m1, 'confirmed', false);
    expectContract(m2, 'false_alarm', false);
    expectContract(m3, 'missed', false);
    expectContract(m4, 'missed', false);
    expectContract(m5, 'missed', false);
    expect(m1.body).toMatchObject({ id: confirmed.id, alert_id: alert.id });
    expect(m2.body).toMatchObject({ id: falseAlarm.id, replaces: confirmed.id, alert_id: alert.id });
    expect(m3.body).toMatchObject({ alert_id: null, class: 'green', box: drawn.box, frame: drawn.frame });
    expect(m3.body.withdrawn).toBeUndefined();
    expect(m5.body).toMatchObject({ id: withdrawal.id, replaces: m4.body.id, withdrawn: true, class: m4.body.class, box: m4.body.box, frame: m4.body.frame });

    // The page heard each one; the alert list shows the latest.
    await waitFor('five verdict messages on the page', () => page!.of('verdict').length === 5);
    expect(page.of('verdict').map((m) => m.verdict.id)).toEqual([m1.body.id, m2.body.id, m3.body.id, m4.body.id, m5.body.id]);
    const listed = (await (await fetch(new URL('/api/alerts', base), { headers: { Authorization: `Bearer ${VIEWER}` } })).json()) as { alerts: Array<{ id: string; verdict?: unknown }> };
    expect(listed.alerts.find((a) => a.id === alert.id)?.verdict).toMatchObject({ verdict: 'false_alarm', operator: 'station 4' });

    // A broker outage: the verdict is stored, then delivered flagged replayed.
    await waitFor('the verdict outbox to drain', () => line!.store.verdictOutbox.depth() === 0);
    await broker.stop();
    await waitFor('linesight to notice the broker is gone', () => !line!.publisher.connected);
    expect((await post(base, '/api/cameras/cam1/missed', { ...drawn, class: 'blue' })).status).toBe(201);
    expect(line.store.verdictOutbox.depth()).toBe(1);
    await broker.start();
    await sub.waitFor((m) => verdicts(m).length >= 6, 30_000);
    expectContract(verdicts(sub.messages)[5], 'missed', true);

    // The statistics: the latest verdict per alert, the replaced one subtracted, the withdrawn missed defect too.
    await line.stop();
    line = undefined;
    const store = openStore(join(dir, 'line.db'), { outboxMaxRows: 10, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    try {
      const totals: Record<string, { confirmed: number; falseAlarms: number; missed: number }> = {};
      for (const row of store.statistics().minutes(0, Number.MAX_SAFE_INTEGER)) {
        for (const [name, c] of Object.entries(row.classes)) {
          if (!c.verdicts) continue;
          const t = (totals[name] ??= { confirmed: 0, falseAlarms: 0, missed: 0 });
          t.confirmed += c.verdicts.confirmed;
          t.falseAlarms += c.verdicts.falseAlarms;
          t.missed += c.verdicts.missed;
        }
      }
      expect(totals).toEqual({
        [String(alert.class)]: { confirmed: 0, falseAlarms: 1, missed: 0 },
        green: { confirmed: 0, falseAlarms: 0, missed: 1 },
        blue: { confirmed: 0, falseAlarms: 0, missed: 1 },
      });
    } finally {
      store.close();
    }
  }, 90_000);
});

describe('operator actions on an overlay without tokens (real HTTP and WebSocket, HandSource)', () => {
  const open = (over: Partial<OverlayConfig> = {}): OverlayConfig => ({ host: '127.0.0.1', port: 0, preview_width: 320, preview_fps: 5, max_clients: 4, allowed_origins: [], ...over });

  it('are open to anyone on the overlay\'s own page, never to another site, and reach every page', async () => {
    const source = new HandSource(['cam1']);
    const alert = makeEvent({ className: 'red', frame: { width: 640, height: 480, ts: Date.now() } });
    source.pushAlert({ ...alert, seq: 1 });
    overlay = await startOverlay(open(), source, silentLogger());
    page = await connectPage(overlay.url);
    await waitFor('the hello', () => page!.of('hello').length > 0);
    expect(page.of('hello')[0].operatorActions).toBe('open');

    const path = `/api/alerts/${alert.id}/verdict`;
    const body = { verdict: 'confirmed', operator: 'demo' };
    expect((await post(overlay.url, path, body, { Authorization: '', Origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(overlay.url, path, body, { Authorization: '', Origin: new URL(overlay.url).origin })).status).toBe(201);
    expect((await post(overlay.url, path, { ...body, verdict: 'false_alarm', replace: true }, { Authorization: '' })).status).toBe(201);
    await waitFor('two verdict messages on the page', () => page!.of('verdict').length === 2);
    expect(page.of('verdict')[1].verdict).toMatchObject({ alert_id: alert.id, verdict: 'false_alarm', replaces: page.of('verdict')[0].verdict.id });
    expect(source.counted.map((c) => `${c.verdict}${c.delta > 0 ? '+' : '-'}`)).toEqual(['confirmed+', 'false_alarm+', 'confirmed-']);
    const listed = (await (await fetch(new URL('/api/alerts', overlay.url))).json()) as { alerts: Array<{ id: string; verdict?: unknown }> };
    expect(listed.alerts[0].verdict).toMatchObject({ verdict: 'false_alarm', operator: 'demo' });
    // A page that connects now gets the verdict with the alert.
    const late = await connectPage(overlay.url);
    try {
      await waitFor('the alerts of a late page', () => late.of('alerts').length > 0);
      expect(late.of('alerts')[0].alerts[0].verdict).toMatchObject({ verdict: 'false_alarm' });
    } finally {
      late.ws.close();
    }
  });

  it('with only the operator token set, want it even though viewing is open', async () => {
    overlay = await startOverlay(open({ operator_token: OPERATOR }), new HandSource(['cam1']), silentLogger());
    const drawn = { class: 'green', box: { x: 10, y: 20, w: 30, h: 40 }, frame: { width: 320, height: 240 }, operator: 'st1' };
    expect((await post(overlay.url, '/api/cameras/cam1/missed', drawn, { Authorization: '' })).status).toBe(401);
    expect((await post(overlay.url, '/api/cameras/cam1/missed', drawn, { Authorization: 'Bearer guess' })).status).toBe(401);
    const ok = await post(overlay.url, '/api/cameras/cam1/missed', drawn);
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { verdict: unknown }).verdict).toMatchObject({ alert_id: null, verdict: 'missed', class: 'green', box: drawn.box });
    expect((await fetch(new URL('/api/cameras/cam1/missed', overlay.url))).status).toBe(405);
  });
});
