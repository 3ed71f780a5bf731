import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { BASE_HEADERS, pageCsp } from '../../src/overlay/headers.js';
import { encodePreview } from '../../src/overlay/protocol.js';
import { loadStaticFiles, staticKey, type StaticFile } from '../../src/overlay/static-files.js';
import { fitFrame, mapBox, unmapBox } from '../../web/geometry.js';
import { dragOnLayer, launchChromium, pageCamera } from '../helpers/overlay-browser.js';

/*
 * The operator page's verdict controls in real Chromium, against a small
 * stand-in for the overlay server: it serves the real web/ files (with the
 * real page CSP), speaks the documented verdict API and the WebSocket messages,
 * and records every request, so each test checks the exact request an
 * operator's tap or key press sends.
 */

/** docs/overlay-verdicts.png is refreshed only on request (LINESIGHT_SCREENSHOT=1). */
const SCREENSHOT = process.env.LINESIGHT_SCREENSHOT === '1';
const OPERATOR_TOKEN = 'op-secret-7';
const CLASSES = ['scratch', 'dent', 'stain'];
/** Source frames are 1280×720; previews are a quarter of that, as preview_width 320 would send them. */
const SOURCE = { width: 1280, height: 720 };
const PREVIEW_WIDTH = 320;
const CAPTURE_TS = Date.UTC(2026, 11, 5, 9, 30, 0, 250);
/** Where the defects are painted on the synthetic frame, source pixels. */
const SPOTS = [
  { x: 180, y: 300, w: 140, h: 90, color: '#d33' },
  { x: 820, y: 420, w: 120, h: 120, color: '#36c' },
];

type Mode = 'token' | 'open' | undefined;
type VerdictName = 'confirmed' | 'false_alarm' | 'missed';

interface Recorded {
  method: string;
  path: string;
  authorization: string | null;
  contentType: string | null;
  body: Record<string, unknown> | null;
}

interface StoredVerdict {
  id: string;
  alert_id: string | null;
  camera: string;
  verdict: VerdictName;
  class: string;
  box: { x: number; y: number; w: number; h: number };
  /** ISO 8601 times, as the real server sends them. */
  frame: { width: number; height: number; ts?: string };
  operator: string;
  ts: string;
  replaces?: string;
  withdrawn?: true;
}

const VERDICT_PATH = /^\/api\/alerts\/([^/]+)\/verdict$/;
const MISSED_PATH = /^\/api\/cameras\/([^/]+)\/missed$/;
const FREEZE_PATH = /^\/api\/cameras\/([^/]+)\/freeze$/;
const WITHDRAW_PATH = /^\/api\/verdicts\/([^/]+)\/withdraw$/;

/** The overlay's side of the verdict API, as documented, with every request kept for the assertions. */
class StandIn {
  readonly requests: Recorded[] = [];
  /** The page's freezes (`POST /api/cameras/{id}/freeze`), apart from the verdicts: they are sent without waiting for an answer. */
  readonly freezes: Recorded[] = [];
  readonly verdicts = new Map<string, StoredVerdict>();
  mode: Mode = 'token';
  /** Answers a stored verdict this long after broadcasting it (0: answer first, then broadcast). */
  answerLateMs = 0;
  alerts: Array<Record<string, unknown>> = [];
  private sockets = new Set<WebSocket>();
  private n = 0;
  private server!: Server;
  private wss!: WebSocketServer;
  url = '';

  constructor(private files: Map<string, StaticFile>, private preview: Buffer) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.wss = new WebSocketServer({ server: this.server, path: '/ws' });
    this.wss.on('connection', (ws) => this.greet(ws));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private greet(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    const cameras = ['press-1', 'weld-2'].map((id) => ({ id, state: 'online', ...SOURCE, health: null }));
    ws.send(JSON.stringify({
      v: 1, type: 'hello', site: 'plant-a', line: 'line-7', ts: Date.now(),
      model: { name: 'defects', version: '1.0.0', provider: 'cpu', classes: CLASSES },
      preview: { width: PREVIEW_WIDTH, fps: 5 }, cameras,
      ...(this.mode ? { operatorActions: this.mode } : {}),
    }));
    const alerts = this.alerts.map((a) => {
      const v = this.verdicts.get(a.id as string);
      return v ? { ...a, verdict: { verdict: v.verdict, operator: v.operator, ts: v.ts } } : a;
    });
    ws.send(JSON.stringify({ v: 1, type: 'alerts', alerts }));
    ws.send(JSON.stringify({ v: 1, type: 'missed', missed: [...this.verdicts.values()].filter((v) => v.verdict === 'missed') }));
    for (const [seq, camera] of ['press-1', 'weld-2'].entries()) {
      ws.send(encodePreview({ camera, captureTs: CAPTURE_TS, seq, ...SOURCE }, this.preview));
    }
  }

  broadcast(msg: unknown): void {
    for (const ws of this.sockets) ws.send(JSON.stringify(msg));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'GET') {
      const key = staticKey(url.pathname);
      const file = key ? this.files.get(key) : undefined;
      if (!file) return this.json(res, 404, { error: 'not_found', message: 'no such file' });
      res.writeHead(200, { ...BASE_HEADERS, 'Content-Type': file.type, 'Content-Security-Policy': pageCsp(req.headers.host) });
      res.end(file.body);
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> | null;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      body = null;
    }
    const recorded = {
      method: req.method ?? '', path: url.pathname + url.search, authorization: req.headers.authorization ?? null,
      contentType: req.headers['content-type'] ?? null, body,
    };
    if (FREEZE_PATH.test(url.pathname)) {
      this.freezes.push(recorded);
      return this.json(res, 200, { v: 1, kept: true });
    }
    this.requests.push(recorded);
    if (this.mode === 'token' && req.headers.authorization !== `Bearer ${OPERATOR_TOKEN}`) {
      return this.json(res, 403, { error: 'forbidden', message: 'This operator token is not accepted.' });
    }
    if (!body || typeof body.operator !== 'string') return this.json(res, 400, { error: 'bad_request', message: 'expected a JSON body with operator' });
    const verdictMatch = VERDICT_PATH.exec(url.pathname);
    if (req.method === 'POST' && verdictMatch) return this.verdict(res, decodeURIComponent(verdictMatch[1]), body);
    const missedMatch = MISSED_PATH.exec(url.pathname);
    if (req.method === 'POST' && missedMatch) return this.missed(res, decodeURIComponent(missedMatch[1]), body);
    const withdrawMatch = WITHDRAW_PATH.exec(url.pathname);
    if (req.method === 'POST' && withdrawMatch) return this.withdraw(res, decodeURIComponent(withdrawMatch[1]), body);
    this.json(res, 404, { error: 'not_found', message: `no route ${req.method} ${url.pathname}` });
  }

  private verdict(res: ServerResponse, alertId: string, body: Record<string, unknown>): void {
    const alert = this.alerts.find((a) => a.id === alertId);
    if (!alert) return this.json(res, 404, { error: 'not_found', message: `no alert ${alertId}` });
    const earlier = this.verdicts.get(alertId);
    if (earlier && body.replace !== true) {
      // As the line answers: a message for the log, and the verdict it holds for the page to explain.
      return this.json(res, 409, {
        error: 'already_judged', message: `Expected an alert without a verdict (or "replace": true) but alert ${alertId} is already judged ${earlier.verdict} by "${earlier.operator}"`,
        current: { id: earlier.id, verdict: earlier.verdict, operator: earlier.operator, ts: earlier.ts },
      });
    }
    this.store(res, {
      alert_id: alertId, camera: alert.camera as string, verdict: body.verdict as VerdictName, class: alert.className as string,
      box: alert.box as StoredVerdict['box'], frame: alert.frame as StoredVerdict['frame'], operator: body.operator as string,
      ...(earlier ? { replaces: earlier.id } : {}),
    });
  }

  private missed(res: ServerResponse, camera: string, body: Record<string, unknown>): void {
    this.store(res, {
      alert_id: null, camera, verdict: 'missed', class: body.class as string, box: body.box as StoredVerdict['box'],
      frame: body.frame as StoredVerdict['frame'], operator: body.operator as string,
    });
  }

  private withdraw(res: ServerResponse, verdictId: string, body: Record<string, unknown>): void {
    const missed = this.verdicts.get(verdictId);
    if (!missed || missed.verdict !== 'missed') return this.json(res, 404, { error: 'unknown_verdict', message: `no missed defect ${verdictId}` });
    const later = [...this.verdicts.values()].find((v) => v.replaces === verdictId);
    if (later) {
      return this.json(res, 409, {
        error: 'already_withdrawn', message: `Expected a missed defect that stands but ${verdictId} was already withdrawn by "${later.operator}"`,
        current: { id: later.id, operator: later.operator, ts: later.ts },
      });
    }
    const { id: _id, ts: _ts, ...drawn } = missed;
    this.store(res, { ...drawn, operator: body.operator as string, replaces: verdictId, withdrawn: true });
  }

  private store(res: ServerResponse, v: Omit<StoredVerdict, 'id' | 'ts'>): void {
    const frameTs = typeof v.frame.ts === 'number' ? new Date(v.frame.ts).toISOString() : v.frame.ts;
    const verdict: StoredVerdict = { id: `v-${++this.n}`, ts: new Date().toISOString(), ...v, frame: { ...v.frame, ts: frameTs } };
    this.verdicts.set(v.alert_id ?? verdict.id, verdict);
    if (this.answerLateMs === 0) {
      this.json(res, 201, { v: 1, verdict });
      this.broadcast({ v: 1, type: 'verdict', verdict });
      return;
    }
    // The stored verdict's message reaches the page before the answer to its request does.
    this.broadcast({ v: 1, type: 'verdict', verdict });
    setTimeout(() => this.json(res, 201, { v: 1, verdict }), this.answerLateMs);
  }

  private json(res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(value));
  }
}

/** A grey frame with two painted defects, downscaled as the server sends previews, plus a thumbnail of each spot. */
async function pictures(): Promise<{ preview: Buffer; thumbs: string[] }> {
  const rects = SPOTS.map((s) => `<rect x="${s.x}" y="${s.y}" width="${s.w}" height="${s.h}" rx="18" fill="${s.color}"/>`).join('');
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${SOURCE.width}" height="${SOURCE.height}">`
    + `<rect width="100%" height="100%" fill="#7a7f85"/><rect x="0" y="250" width="1280" height="340" fill="#9aa0a6"/>${rects}</svg>`);
  const full = await sharp(svg).png().toBuffer();
  const preview = await sharp(full).resize({ width: PREVIEW_WIDTH }).jpeg({ quality: 80 }).toBuffer();
  const thumbs = await Promise.all(SPOTS.map(async (s) => (await sharp(full)
    .extract({ left: s.x - 30, top: s.y - 30, width: s.w + 60, height: s.h + 60 }).resize(96, 96, { fit: 'contain' }).jpeg().toBuffer()).toString('base64')));
  return { preview, thumbs };
}

function alert(id: string, camera: string, className: string, spot: (typeof SPOTS)[number], ageS: number, thumbnail: string | null) {
  const ts = Date.now() - ageS * 1000;
  return {
    id, seq: 1, camera, trackId: 1, classId: CLASSES.indexOf(className), className, confidence: 0.91,
    box: { x: spot.x, y: spot.y, w: spot.w, h: spot.h }, frame: { ...SOURCE, ts }, ts, confirmedAt: ts, thumbnail,
  };
}

let server: StandIn;
let thumbs: string[];
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

async function openPage(mode: Mode, deviceScaleFactor = 1): Promise<Page> {
  server.mode = mode;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(msg.text()); });
  await page.goto(server.url);
  await page.locator('#alerts li.alert').first().waitFor();
  return page;
}

const card = (page: Page, id: string) => page.locator(`#alerts li.alert[data-id="${id}"]`);

/** Waits until `n` requests have reached the stand-in and returns the newest. */
async function nthRequest(n: number): Promise<Recorded> {
  await expect.poll(() => server.requests.length).toBe(n);
  return server.requests[n - 1];
}

beforeAll(async () => {
  const pics = await pictures();
  const preview = pics.preview;
  thumbs = pics.thumbs;
  server = new StandIn(await loadStaticFiles(), preview);
  server.alerts = [
    alert('a-new', 'press-1', 'scratch', SPOTS[0], 20, thumbs[0]),
    alert('a-weld', 'weld-2', 'dent', SPOTS[1], 95, thumbs[1]),
    alert('a-old', 'press-1', 'stain', SPOTS[0], 300, thumbs[0]),
    alert('a-oldest', 'weld-2', 'scratch', SPOTS[1], 900, thumbs[1]),
  ];
  await server.start();
  browser = await launchChromium();
});

afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await server?.stop();
});

describe('operator verdicts on the overlay page (real Chromium, stand-in server)', () => {
  let page: Page;

  it('asks for name and token once, sends exactly the documented confirm, and shows it from the server message', async () => {
    page = await openPage('token', 2); // a touch panel's pixel ratio: canvas pixels are not CSS pixels
    const confirm = card(page, 'a-new').locator('button[data-verdict="confirmed"]');
    const box = await confirm.boundingBox();
    expect(box!.height).toBeGreaterThanOrEqual(44); // gloved fingers
    await confirm.click();

    // First the operator types a wrong token: the server's 403 brings the dialog back with its message.
    const dialog = page.locator('#operator');
    await dialog.waitFor();
    await page.fill('#op-name', 'anna');
    await page.fill('#op-token', 'wrong');
    await page.click('#operator button[type="submit"]');
    expect((await nthRequest(1)).authorization).toBe('Bearer wrong');
    await expect.poll(() => dialog.locator('.why').textContent()).toBe('This operator token is not accepted.');
    expect(await page.inputValue('#op-name')).toBe('anna');
    await page.fill('#op-token', OPERATOR_TOKEN);
    await page.click('#operator button[type="submit"]');

    expect(await nthRequest(2)).toEqual({
      method: 'POST', path: '/api/alerts/a-new/verdict', authorization: `Bearer ${OPERATOR_TOKEN}`,
      contentType: 'application/json', body: { verdict: 'confirmed', operator: 'anna' },
    });
    await expect.poll(() => card(page, 'a-new').getAttribute('data-verdict')).toBe('confirmed');
    expect(await card(page, 'a-new').locator('.verdict').textContent()).toMatch(/^✓ confirmed · anna · \d\d:\d\d:\d\d$/);
    expect(await card(page, 'a-new').locator('button[data-verdict="false_alarm"]').textContent()).toBe('Change to ✗ false alarm');
    expect(await card(page, 'a-new').locator('button[data-verdict="confirmed"]').isVisible()).toBe(false);
    expect(await dialog.isVisible()).toBe(false);

    // Kept for this tab only, and never in the address.
    const stored = await page.evaluate(() => {
      type Store = Record<string, string> & { length: number };
      const w = globalThis as unknown as { sessionStorage: Store; localStorage: Store; location: { href: string } };
      return { tab: Object.values({ ...w.sessionStorage }), local: w.localStorage.length, href: w.location.href };
    });
    expect(stored.tab).toEqual(expect.arrayContaining(['anna', OPERATOR_TOKEN]));
    expect(stored.local).toBe(0);
    expect(stored.href).not.toContain(OPERATOR_TOKEN);
  });

  it('marks a false alarm on another card without asking again', async () => {
    await card(page, 'a-weld').locator('button[data-verdict="false_alarm"]').click();
    expect(await nthRequest(3)).toMatchObject({
      path: '/api/alerts/a-weld/verdict', authorization: `Bearer ${OPERATOR_TOKEN}`, body: { verdict: 'false_alarm', operator: 'anna' },
    });
    await expect.poll(() => card(page, 'a-weld').locator('.verdict').textContent()).toMatch(/^✗ false alarm · anna · /);
  });

  it('shows a verdict another page stored', async () => {
    server.broadcast({ v: 1, type: 'verdict', verdict: {
      id: 'v-other', alert_id: 'a-oldest', camera: 'weld-2', verdict: 'confirmed', class: 'scratch', box: SPOTS[1],
      frame: { ...SOURCE, ts: new Date(CAPTURE_TS).toISOString() }, operator: 'bo', ts: new Date().toISOString(),
    } });
    await expect.poll(() => card(page, 'a-oldest').locator('.verdict').textContent()).toMatch(/^✓ confirmed · bo · /);
  });

  it('turns a 409 into "change to …", which re-posts with replace: true', async () => {
    // Judged elsewhere before this page heard of it.
    server.verdicts.set('a-old', { id: 'v-x', alert_id: 'a-old', camera: 'press-1', verdict: 'false_alarm', class: 'stain', box: SPOTS[0], frame: SOURCE, operator: 'bo', ts: new Date().toISOString() });
    await card(page, 'a-old').locator('button[data-verdict="confirmed"]').click();
    expect((await nthRequest(4)).body).toEqual({ verdict: 'confirmed', operator: 'anna' });
    const change = card(page, 'a-old').locator('button[data-verdict="confirmed"]');
    await expect.poll(() => change.textContent()).toBe('Change to ✓ confirmed');
    // Said from the verdict the server holds, not with the API's message.
    expect(await card(page, 'a-old').locator('.verdict').textContent()).toMatch(/^Already marked a false alarm by bo at \d\d:\d\d:\d\d\.$/);
    await change.click();
    expect(await nthRequest(5)).toMatchObject({ path: '/api/alerts/a-old/verdict', body: { verdict: 'confirmed', operator: 'anna', replace: true } });
    await expect.poll(() => card(page, 'a-old').getAttribute('data-verdict')).toBe('confirmed');
  });

  it('judges the selected alert with c and f, arrows moving the selection', async () => {
    const live = alert('a-live', 'weld-2', 'dent', SPOTS[1], 0, null);
    server.alerts.unshift(live);
    server.broadcast({ v: 1, type: 'alert', alert: live });
    await card(page, 'a-live').waitFor();
    await page.keyboard.press('Escape'); // drop the selection the earlier taps made
    await page.keyboard.press('ArrowDown'); // the newest card
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowUp');
    await expect.poll(() => page.locator('#alerts li.selected').getAttribute('data-id')).toBe('a-live');
    // The server's message about the stored verdict arrives well before the answer to the request, as it can on
    // a busy line: the card shows the verdict, and a change pressed right then is sent, not taken for a double tap.
    server.answerLateMs = 1500;
    try {
      await page.keyboard.press('f');
      expect(await nthRequest(6)).toMatchObject({ path: '/api/alerts/a-live/verdict', body: { verdict: 'false_alarm', operator: 'anna' } });
      await expect.poll(() => card(page, 'a-live').getAttribute('data-verdict')).toBe('false_alarm');
      // c on the same card changes the verdict: the page knows there is one, so it replaces it.
      await page.keyboard.press('c');
      expect(await nthRequest(7)).toMatchObject({ path: '/api/alerts/a-live/verdict', body: { verdict: 'confirmed', operator: 'anna', replace: true } });
      await expect.poll(() => card(page, 'a-live').getAttribute('data-verdict')).toBe('confirmed');
      // A second f pressed while that change is still unanswered is one request, not two.
      await page.keyboard.press('f');
      await page.keyboard.press('f');
      expect(await nthRequest(8)).toMatchObject({ body: { verdict: 'false_alarm', replace: true } });
      await expect.poll(() => card(page, 'a-live').getAttribute('data-verdict')).toBe('false_alarm');
      expect(server.requests).toHaveLength(8);
    } finally {
      server.answerLateMs = 0;
    }
  });

  it('freezes a tile, takes a dragged box and a class, and sends the box in source pixels', async () => {
    // A fresh alert nobody has judged yet, so the picture for the README shows both kinds of card.
    const fresh = alert('a-fresh', 'press-1', 'scratch', SPOTS[0], 0, thumbs[0]);
    server.alerts.unshift(fresh);
    server.broadcast({ v: 1, type: 'alert', alert: fresh });
    await card(page, 'a-fresh').waitFor();
    await expect.poll(async () => (await pageCamera(page, 'press-1'))?.frame?.previewWidth).toBe(PREVIEW_WIDTH);
    await page.locator('.tile[data-camera="press-1"] button.mark').click();
    await expect.poll(async () => (await pageCamera(page, 'press-1') as unknown as { frozen: boolean }).frozen).toBe(true);
    // The server is told which frame froze, so that it keeps that one for the box (the operator's token is at hand by now).
    await expect.poll(() => server.freezes.length).toBe(1);
    expect(server.freezes[0]).toMatchObject({ path: '/api/cameras/press-1/freeze', authorization: `Bearer ${OPERATOR_TOKEN}`, body: { ts: CAPTURE_TS } });

    // Where a known source box lands on screen, through the tile's own letterbox, in canvas pixels, then CSS pixels.
    const want = { x: 400, y: 240, w: 320, h: 200 };
    const cam = await pageCamera(page, 'press-1');
    const canvas = (await page.locator('.tile[data-camera="press-1"] canvas').boundingBox())!;
    const dpr = cam!.canvas!.width / canvas.width;
    expect(dpr).toBeCloseTo(2, 1);
    const onCanvas = mapBox(want, fitFrame(SOURCE.width, SOURCE.height, cam!.canvas!.width, cam!.canvas!.height));
    const from = { x: canvas.x + onCanvas.x / dpr, y: canvas.y + onCanvas.y / dpr };
    const size = { w: onCanvas.w / dpr, h: onCanvas.h / dpr };
    await page.mouse.move(from.x + size.w, from.y + size.h); // dragged up-left: the box is the same
    await page.mouse.down();
    await page.mouse.move(from.x + size.w / 2, from.y + size.h / 2, { steps: 4 });
    await page.mouse.move(from.x, from.y, { steps: 4 });
    await page.mouse.up();
    const dent = page.locator('.mark-bar button[data-class="dent"]');
    await dent.waitFor();
    expect(await page.locator('.mark-bar button[data-class]').allTextContents()).toEqual(['1 scratch', '2 dent', '3 stain']);
    if (SCREENSHOT) await page.screenshot({ path: join(import.meta.dirname, '../../docs/overlay-verdicts.png'), animations: 'disabled', scale: 'css' });
    await dent.click();

    const req = await nthRequest(9);
    expect(req).toMatchObject({
      method: 'POST', path: '/api/cameras/press-1/missed', authorization: `Bearer ${OPERATOR_TOKEN}`, contentType: 'application/json',
      body: { class: 'dent', operator: 'anna', frame: { ...SOURCE, ts: CAPTURE_TS } },
    });
    const got = req.body!.box as typeof want;
    for (const k of ['x', 'y', 'w', 'h'] as const) expect(Math.abs(got[k] - want[k]), `${k}: sent ${got[k]}, drew ${want[k]}`).toBeLessThanOrEqual(2);
    await page.locator('#alerts li.missed[data-class="dent"][data-camera="press-1"]').waitFor();
    expect(await page.locator('.mark-layer').count()).toBe(0);
    expect((await pageCamera(page, 'press-1') as unknown as { frozen: boolean }).frozen).toBe(false);
  });

  it('marks with m and a number key, and Esc cancels', async () => {
    const layer = page.locator('.tile[data-camera="weld-2"] .mark-layer');
    await page.keyboard.press('m'); // on the selected alert's camera: a-live is weld-2's
    await layer.waitFor();
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('.mark-layer').count()).toBe(0);
    expect((await pageCamera(page, 'weld-2') as unknown as { frozen: boolean }).frozen).toBe(false);

    await page.keyboard.press('m');
    await dragOnLayer(page, layer, [0.3, 0.5], [0.6, 0.7]);
    await page.locator('.mark-bar button[data-class="stain"]').waitFor();
    await page.keyboard.press('3');
    expect(await nthRequest(10)).toMatchObject({ path: '/api/cameras/weld-2/missed', body: { class: 'stain', operator: 'anna' } });
    await page.locator('#alerts li.missed[data-class="stain"][data-camera="weld-2"]').waitFor();
  });

  it('takes back a missed defect drawn by mistake from its card', async () => {
    const missed = page.locator('#alerts li.missed[data-class="stain"][data-camera="weld-2"]');
    const id = await missed.getAttribute('data-id');
    const takeBack = missed.locator('button[data-withdraw]');
    expect(await takeBack.textContent()).toBe('↶ Take back');
    expect((await takeBack.boundingBox())!.height).toBeGreaterThanOrEqual(44);
    await takeBack.click();
    expect(await nthRequest(11)).toEqual({
      method: 'POST', path: `/api/verdicts/${id}/withdraw`, authorization: `Bearer ${OPERATOR_TOKEN}`, contentType: 'application/json',
      body: { operator: 'anna' },
    });
    await expect.poll(() => missed.getAttribute('data-withdrawn')).toBe('true');
    expect(await missed.locator('.verdict').textContent()).toMatch(/^↶ taken back · anna · \d\d:\d\d:\d\d$/);
    expect(await takeBack.isVisible()).toBe(false);
    // The other missed card (press-1's dent) still stands and still offers it; another station takes it back first.
    const dent = page.locator('#alerts li.missed[data-class="dent"]');
    const dentId = (await dent.getAttribute('data-id'))!;
    const { id: _id, ts: _ts, ...drawn } = server.verdicts.get(dentId)!;
    server.verdicts.set('v-elsewhere', { ...drawn, id: 'v-elsewhere', operator: 'bo', ts: new Date().toISOString(), replaces: dentId, withdrawn: true });
    await dent.locator('button[data-withdraw]').click();
    expect(await nthRequest(12)).toMatchObject({ path: `/api/verdicts/${dentId}/withdraw` });
    await expect.poll(() => dent.locator('.verdict').textContent()).toMatch(/^↶ taken back · bo · \d\d:\d\d:\d\d$/);
    expect(await dent.locator('button[data-withdraw]').isVisible()).toBe(false);
  });

  it('asks only for a name (prefilled) when actions are open, and sends no Authorization', async () => {
    server.verdicts.delete('a-weld'); // so that this page's confirm is a first verdict
    const open = await openPage('open');
    // The alert list on connect carries each alert's latest verdict, and the missed defects take their place by time.
    expect(await card(open, 'a-new').locator('.verdict').textContent()).toMatch(/^✓ confirmed · anna · /);
    await expect.poll(() => open.locator('#alerts li').evaluateAll((lis) => lis.slice(0, 3).map((li) => `${li.className}:${li.getAttribute('data-class')}`)))
      .toEqual(['alert missed:stain', 'alert missed:dent', 'alert:scratch']);
    expect(await open.locator('#alerts li.missed[data-class="stain"] .verdict').textContent()).toMatch(/^↶ taken back · anna · /);
    expect(await open.locator('#alerts li.missed[data-class="dent"] .verdict').textContent()).toMatch(/^↶ taken back · bo · /);
    await card(open, 'a-weld').locator('button[data-verdict="confirmed"]').click();
    await open.locator('#operator').waitFor();
    expect(await open.inputValue('#op-name')).toBe('station');
    expect(await open.locator('#op-token').isVisible()).toBe(false);
    await open.click('#operator button[type="submit"]');
    expect(await nthRequest(13)).toEqual({
      method: 'POST', path: '/api/alerts/a-weld/verdict', authorization: null, contentType: 'application/json',
      body: { verdict: 'confirmed', operator: 'station' },
    });
    await expect.poll(() => card(open, 'a-weld').locator('.verdict').textContent()).toMatch(/^✓ confirmed · station · /);
  });

  it('shows the server\'s message when a request fails', async () => {
    const open = await openPage('open');
    server.alerts.push(alert('a-gone', 'press-1', 'stain', SPOTS[0], 5, null));
    server.broadcast({ v: 1, type: 'alert', alert: server.alerts.at(-1) });
    server.alerts.pop(); // the server no longer knows it: 404
    await card(open, 'a-gone').locator('button[data-verdict="false_alarm"]').click();
    await open.click('#operator button[type="submit"]');
    await expect.poll(() => open.locator('#action-error').textContent()).toBe('Not saved (404): no alert a-gone');
    expect(await open.locator('#action-error').isVisible()).toBe(true);
  });

  it('shows no verdict controls to a server that does not take them', async () => {
    const old = await openPage(undefined);
    expect(await old.locator('#alerts li.alert').count()).toBeGreaterThan(0);
    expect(await old.locator('.tile .bar').count()).toBe(2);
    expect(await old.locator('#alerts button:visible, .tile button:visible').count()).toBe(0);
    const before = server.requests.length;
    await old.locator('#alerts li.alert').first().click();
    await old.keyboard.press('c');
    await old.keyboard.press('m');
    expect(await old.locator('#operator').isVisible()).toBe(false);
    expect(await old.locator('.mark-layer').count()).toBe(0);
    expect(server.requests).toHaveLength(before);
    // Refused requests (403, 404) are logged by Chromium itself; anything else is the page's own fault.
    expect(pageErrors.filter((e) => !e.startsWith('Failed to load resource'))).toEqual([]);
  });
});

describe('unmapBox (web/geometry.js)', () => {
  it('undoes mapBox to whole source pixels and clips a box drawn over the letterbox bars', () => {
    const fit = fitFrame(1280, 720, 1000, 800); // scale 0.78125, bars above and below
    const box = { x: 400, y: 240, w: 320, h: 200 };
    expect(unmapBox(mapBox(box, fit), fit, 1280, 720)).toEqual(box);
    expect(unmapBox({ x: -50, y: 0, w: 200, h: fit.y + 100 }, fit, 1280, 720)).toEqual({ x: 0, y: 0, w: 192, h: 128 });
    expect(unmapBox({ x: 10, y: 10, w: 10, h: 10 }, fitFrame(0, 0, 10, 10), 0, 0)).toEqual({ x: 0, y: 0, w: 0, h: 0 });
  });
});
