import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { startOverlay, type Overlay } from '../../src/overlay/server.js';
import type { Verdict } from '../../src/store/index.js';
import { fitFrame, mapBox } from '../../web/geometry.js';
import { makeClip } from '../helpers/clips.js';
import { connectPage, rawGet } from '../helpers/overlay-client.js';
import { dragOnLayer, launchChromium, litPixels, pageCamera } from '../helpers/overlay-browser.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp.js';
import { waitFor } from '../helpers/wait.js';

const MODEL = join(import.meta.dirname, '../fixtures/models/squares-v8.onnx');
/** The README's screenshot is refreshed only on request (UPDATE_SCREENSHOT=1 npm test); otherwise it goes to the test's temp dir. */
const UPDATE_SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1';
const TOKEN = 'line-7-token';
const OPERATOR_TOKEN = 'line-7-operator';
const SIZE = { width: 640, height: 360 };
/** The planted defect, source pixels (the fixture model finds pure red). */
const SQUARE = { x: 212, y: 118, w: 96, h: 72 };

let dir: string;
let screenshot: string;
let rtsp: RtspServer | undefined;
let line: Line | undefined;
let overlay: Overlay | undefined;
let browser: Browser | undefined;
let page: Page;
let cfgOverlay: Config['overlay'];

function config(url: string, fileClip: string): Config {
  const { config: cfg, problems } = validateConfig({
    site: 'plant-a',
    line: 'line-7',
    cameras: [{ id: 'press-1', url, fps: 5 }, { id: 'weld-2', url: fileClip, fps: 5 }],
    model: { path: MODEL, confidence: 0.5 },
    // RTSP start-up (probe + first keyframe) takes ~2.5 s here; a dead server is noticed at once anyway.
    ingest: { backoff_initial: 0.2, backoff_max: 1, stall_timeout: 5 },
    events: { confirm_hits: 2, confirm_window: 3 },
    mqtt: { embedded_port: 0 },
    store: { path: join(dir, 'linesight.db') },
    overlay: { host: '127.0.0.1', port: 0, token: TOKEN, operator_token: OPERATOR_TOKEN, preview_width: 640, preview_fps: 5, max_clients: 4 },
    log: { level: 'silent' },
  });
  if (!cfg) throw new Error(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return cfg;
}

const badge = (camera: string) => page.locator(`.tile[data-camera="${camera}"] .badge`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'linesight-overlay-'));
  screenshot = UPDATE_SCREENSHOT ? join(import.meta.dirname, '../../docs/overlay.png') : join(dir, 'overlay.png');
  await mkdir(dirname(screenshot), { recursive: true });
  const clip = await makeClip({ ...SIZE, fps: 10, seconds: 4, squares: [{ color: 'red', ...SQUARE }] });
  // A second camera (a file replayed as one) so the page shows a grid; it must not notice press-1's outage.
  const other = await makeClip({ width: 640, height: 480, fps: 10, seconds: 4, squares: [{ color: 'blue', x: 40, y: 300, w: 64, h: 64, vx: 100 }] });
  rtsp = await startRtspServer({ clip, loop: true });
  const cfg = config(rtsp.url, other);
  line = await startLine(cfg, silentLogger());
  cfgOverlay = cfg.overlay;
  overlay = line.overlay; // startLine starts the operator page, as `linesight run` does
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
});

afterAll(async () => {
  await browser?.close();
  await line?.stop();
  await rtsp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  try {
    await expectNoStrays();
  } finally {
    await killStrays();
  }
});

describe('operator page in Chromium on the real pipeline', () => {
  it('refuses the page, the socket and the API without the token', async () => {
    const res = await page.goto(overlay!.url);
    expect(res?.status()).toBe(401);
    expect(await page.content()).not.toMatch(/press-1|plant-a|line-7/);
    // The page's own calls, without the token: the API and the socket refuse them.
    expect((await rawGet(overlay!.url, '/api/alerts')).status).toBe(401);
    expect((await rawGet(overlay!.url, '/metrics')).status).toBe(401);
    await expect(connectPage(overlay!.url)).rejects.toMatchObject({ status: 401 });
    await expect(connectPage(overlay!.url, { token: 'wrong' })).rejects.toMatchObject({ status: 401 });
    expect((await page.goto(`${overlay!.url}?token=wrong`))?.status()).toBe(401);
  });

  it('shows the live frame with the planted defect boxed in place', async () => {
    const res = await page.goto(`${overlay!.url}?token=${TOKEN}`);
    expect(res?.status()).toBe(200);
    await expect.poll(() => badge('press-1').getAttribute('data-state'), { timeout: 20_000 }).toBe('online');
    await waitFor('a frame on the canvas', async () => (await litPixels(page, 'press-1')) > 1000, 20_000, 200);

    const cam = await waitFor('a box drawn', async () => {
      const c = await pageCamera(page, 'press-1');
      return c && c.rects.length > 0 && c.canvas && c.frame ? c : null; // boxes can arrive before the first preview
    }, 20_000, 200);
    // The expected place: the known source box through the same letterbox the page uses.
    const want = mapBox(SQUARE, fitFrame(SIZE.width, SIZE.height, cam.canvas!.width, cam.canvas!.height));
    const got = cam.rects[0];
    expect(got.className).toBe('red');
    for (const k of ['x', 'y', 'w', 'h'] as const) expect(Math.abs(got[k] - want[k]), `${k}: drew ${got[k]}, expected ${want[k]}`).toBeLessThanOrEqual(3);
    expect(cam.frame).toMatchObject({ width: SIZE.width, height: SIZE.height, previewWidth: 640, previewHeight: 360 });
  });

  it('lists the live alert with its thumbnail and counts it for the hour', async () => {
    const item = page.locator('#alerts li[data-camera="press-1"][data-class="red"]').first();
    await item.waitFor({ timeout: 20_000 });
    expect(await item.locator('img.thumb').getAttribute('src')).toMatch(/^data:image\/jpeg;base64,/);
    expect(await page.locator('#counts li[data-class="red"] strong').textContent()).toMatch(/^[1-9]\d*$/);
  });

  it('takes an operator\'s confirm from the card and shows it as the line stored it, after a reload too', async () => {
    const item = page.locator('#alerts li.alert[data-camera="press-1"][data-class="red"]').first();
    const id = await item.getAttribute('data-id');
    await item.locator('button[data-verdict="confirmed"]').click();
    await page.fill('#op-name', 'anna');
    await page.fill('#op-token', OPERATOR_TOKEN);
    await page.click('#operator button[type="submit"]');
    const card = page.locator(`#alerts li.alert[data-id="${id}"]`);
    // The line's own verdict message (ISO times) reaches the card.
    await expect.poll(() => card.locator('.verdict').textContent(), { timeout: 10_000 }).toMatch(/^✓ confirmed · anna · \d\d:\d\d:\d\d$/);
    await page.reload();
    await expect.poll(() => card.locator('.verdict').textContent(), { timeout: 10_000 }).toMatch(/^✓ confirmed · anna · \d\d:\d\d:\d\d$/);
    expect(await card.getAttribute('data-verdict')).toBe('confirmed');
  });

  it('marks a missed defect on a frozen tile and takes it back, each shown as the line stored it', async () => {
    await page.locator('.tile[data-camera="press-1"] button.mark').click();
    const layer = page.locator('.tile[data-camera="press-1"] .mark-layer');
    await dragOnLayer(page, layer, [0.2, 0.3], [0.4, 0.6]);
    await page.locator('.mark-bar button[data-class="red"]').click();
    const missed = page.locator('#alerts li.missed[data-camera="press-1"][data-class="red"]');
    await missed.waitFor({ timeout: 10_000 });
    expect(await missed.locator('.meta').textContent()).toMatch(/^press-1 · marked by anna · \d\d:\d\d:\d\d$/);
    const id = (await missed.getAttribute('data-id'))!;
    await missed.locator('button[data-withdraw]').click();
    await expect.poll(() => missed.locator('.verdict').textContent(), { timeout: 10_000 }).toMatch(/^↶ taken back · anna · \d\d:\d\d:\d\d$/);
    // Both are in the line's store, the withdrawal naming the defect.
    const db = new Database(join(dir, 'linesight.db'), { readonly: true });
    const stored = db.prepare<[], { json: string }>('SELECT json FROM verdicts ORDER BY pos').all().map((row) => JSON.parse(row.json) as Verdict);
    db.close();
    expect(stored.find((v) => v.id === id)).toMatchObject({ verdict: 'missed', className: 'red', camera: 'press-1', operator: 'anna' });
    expect(stored.find((v) => v.replaces === id)).toMatchObject({ verdict: 'missed', withdrawn: true, operator: 'anna' });
    // A reloaded page lists it again, taken back.
    await page.reload();
    await expect.poll(() => missed.locator('.verdict').textContent(), { timeout: 10_000 }).toMatch(/^↶ taken back · anna · \d\d:\d\d:\d\d$/);
  });

  it('turns the badge to reconnecting when the camera dies and back to online when it returns', async () => {
    await waitFor('both cameras on screen', async () => (await litPixels(page, 'weld-2')) > 1000, 20_000, 200);
    await expect.poll(() => page.locator('.tile .facts').allTextContents(), { timeout: 10_000, interval: 200 })
      .toEqual([expect.stringMatching(/ [1-9][\d.]* fps/), expect.stringMatching(/ [1-9][\d.]* fps/)]); // a settled rate for the screenshot
    await page.screenshot({ path: screenshot });
    await rtsp!.stop();
    await expect.poll(() => badge('press-1').getAttribute('data-state'), { timeout: 20_000, interval: 200 }).toBe('reconnecting');
    expect(await badge('weld-2').getAttribute('data-state')).toBe('online');
    await rtsp!.restart();
    await expect.poll(() => badge('press-1').getAttribute('data-state'), { timeout: 30_000, interval: 200 }).toBe('online');
    await waitFor('fresh frames again', async () => {
      const c = await pageCamera(page, 'press-1');
      return c && c.ageMs !== null && c.ageMs < 2000;
    }, 20_000, 200);
  });

  it('shows DISCONNECTED while the server is away and recovers by itself when it is back', async () => {
    const port = overlay!.port;
    await overlay!.close();
    const banner = page.locator('#banner');
    await expect.poll(() => banner.isVisible(), { timeout: 10_000 }).toBe(true);
    expect(await banner.textContent()).toContain('DISCONNECTED');
    overlay = await startOverlay({ ...cfgOverlay, port }, line!.overlaySource(), silentLogger());
    await expect.poll(() => banner.isVisible(), { timeout: 20_000, interval: 200 }).toBe(false);
    await expect.poll(() => badge('press-1').getAttribute('data-state'), { timeout: 10_000 }).toBe('online');
  });
});
