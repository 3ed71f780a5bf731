import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { OverlayConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { CloseCodes, MAX_CLIENT_MESSAGE } from '../../src/overlay/protocol.js';
import { startOverlay, type Overlay, type OverlayOptions } from '../../src/overlay/server.js';
import { THUMBNAIL_SIZE } from '../../src/overlay/thumbnail.js';
import { runCli } from '../helpers/cli.js';
import { makeEvent } from '../helpers/events.js';
import { connectPage, rawGet, type Received } from '../helpers/overlay-client.js';
import { HandSource, rgbFrame } from '../helpers/overlay-source.js';
import { waitFor } from '../helpers/wait.js';

const overlays: Overlay[] = [];
const pages: Received[] = [];
const timers: NodeJS.Timeout[] = [];

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const p of pages.splice(0)) p.ws.terminate();
  await Promise.all(overlays.splice(0).map((o) => o.close()));
});

function config(over: Partial<OverlayConfig> = {}): OverlayConfig {
  return { host: '127.0.0.1', port: 0, preview_width: 320, preview_fps: 5, max_clients: 4, allowed_origins: [], ...over };
}

async function start(source: HandSource, over: Partial<OverlayConfig> = {}, opts: OverlayOptions = {}): Promise<Overlay> {
  const o = await startOverlay(config(over), source, silentLogger(), opts);
  overlays.push(o);
  return o;
}

async function page(o: Overlay, opts?: Parameters<typeof connectPage>[1]): Promise<Received> {
  const p = await connectPage(o.url, opts);
  pages.push(p);
  return p;
}

/**
 * Asserts that timestamps (in order) keep to a token bucket of `perSecond` that
 * holds two: any k consecutive ones span at least (k - 2) / perSecond seconds.
 * A few ms of slack: the limiter reads the clock just after the frame was stamped.
 */
function expectSpacedAtMost(ts: number[], perSecond: number): void {
  const slackMs = 20;
  for (let i = 0; i < ts.length; i++) {
    for (let j = i + 2; j < ts.length; j++) {
      const least = ((j - i - 1) * 1000) / perSecond - slackMs;
      expect(ts[j] - ts[i], `previews ${i}..${j}: ${ts.slice(i, j + 1).join(', ')}`).toBeGreaterThanOrEqual(least);
    }
  }
}

/** Feeds frames of every camera at `fps`, cycling through `variants` prepared buffers. */
function pump(source: HandSource, cameras: string[], fps: number, width: number, height: number, variants: Buffer[]): () => number {
  let seq = 0;
  const t = setInterval(() => {
    seq++;
    for (const camera of cameras) {
      source.pushFrame({ camera, seq, captureTs: Date.now(), width, height, rgb: variants[seq % variants.length] });
    }
  }, 1000 / fps);
  timers.push(t);
  return () => seq;
}

describe('overlay HTTP', () => {
  it('serves the page and its assets with their types and caching, and nothing outside web/', async () => {
    const o = await start(new HandSource(['cam1']));
    const index = await rawGet(o.url, '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['cache-control']).toContain('no-cache');
    expect(index.headers['content-security-policy']).toContain("script-src 'self'");
    const js = await rawGet(o.url, '/app.js');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toMatch(/max-age=\d+/);
    expect((await rawGet(o.url, '/style.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await rawGet(o.url, '/app.js', { 'If-None-Match': String(js.headers.etag) })).status).toBe(304);

    for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2f..%2fetc/passwd', '/../../../../etc/passwd',
      '/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/..\\package.json', '/%00', '/%zz', '/geometry.d.ts', '/web/index.html', '//etc/passwd']) {
      const res = await rawGet(o.url, path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(res.body).not.toContain('"name"');
    }
    expect((await rawGet(o.url, '/', {}, 'POST')).status).toBe(405);
  });

  it('answers /healthz 200 with per-camera states while alive, 503 when not', async () => {
    const source = new HandSource(['cam1', 'cam2']);
    const o = await start(source);
    const ok = await rawGet(o.url, '/healthz');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ alive: true, cameras: [{ id: 'cam1', state: 'connecting' }, { id: 'cam2', state: 'connecting' }] });
    source.alive = false;
    const down = await rawGet(o.url, '/healthz');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body).alive).toBe(false);
  });

  it('exposes the line’s metrics, counts read from the snapshots at scrape time', async () => {
    const source = new HandSource(['cam1']);
    const registry = new Registry();
    const o = await start(source, {}, { metricsRegistry: registry });
    const frame = { camera: 'cam1', seq: 1, captureTs: Date.now() - 40, captureMono: performance.now() - 40, width: 64, height: 48, pictured: true };
    source.pushFrame({ ...frame, rgb: rgbFrame(64, 48) });
    source.pushInspected({ frame, detections: [], inferredAt: Date.now(), latencyMs: 40, inferMs: 12, batchSize: 1 });
    source.snaps.get('cam1')!.framesDropped.superseded = 3;
    source.outboxDepth = 7;
    const res = await rawGet(o.url, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    for (const line of [
      'linesight_frames_received_total{camera="cam1"} 1',
      'linesight_frames_inspected_total{camera="cam1"} 1',
      'linesight_frames_dropped_total{camera="cam1",reason="superseded"} 3',
      'linesight_cameras_online 1',
      'linesight_outbox_depth 7',
      'linesight_mqtt_connected 1',
      'linesight_inference_provider{provider="cpu",model="squares",version="fixture-1"} 1',
      'linesight_inference_seconds_count 1',
      'linesight_latency_seconds_count{camera="cam1"} 1',
      'linesight_camera_state{camera="cam1",state="online"} 1',
    ]) expect(res.body).toContain(line);
    for (const name of ['linesight_camera_fps', 'linesight_camera_frame_age_seconds', 'linesight_camera_restarts_total', 'linesight_overlay_clients', 'linesight_overlay_previews_skipped_total']) {
      expect(res.body).toContain(`# TYPE ${name} `);
    }
    await o.close();
    expect(await registry.metrics()).not.toContain('linesight_');
  });

  it('lists recent alerts on /api/alerts and refuses a bad limit', async () => {
    const source = new HandSource(['cam1']);
    source.alerts = [makeEvent({ camera: 'cam1' }), makeEvent({ camera: 'cam1' }), makeEvent({ camera: 'cam1' })];
    const o = await start(source);
    const res = await rawGet(o.url, '/api/alerts?limit=2');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body);
    expect(body.v).toBe(1);
    expect(body.alerts.map((a: { id: string }) => a.id)).toEqual(source.alerts.slice(0, 2).map((a) => a.id));
    expect((await rawGet(o.url, '/api/alerts?limit=abc')).status).toBe(400);
    expect((await rawGet(o.url, '/api/alerts?limit=100000')).status).toBe(400);
  });
});

describe('overlay token', () => {
  it('guards the page, the socket, the API and the metrics; /healthz tells only states', async () => {
    const source = new HandSource(['secret-cam']);
    source.site = 'secret-site';
    source.alerts = [makeEvent({ camera: 'secret-cam', className: 'secret-class' })];
    const o = await start(source, { token: 's3cret' });

    for (const path of ['/', '/index.html', '/api/alerts', '/metrics', '/?token=wrong', '/metrics?token=s3cret2']) {
      const res = await rawGet(o.url, path);
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
      expect(res.body).not.toMatch(/secret-(site|cam|class)|s3cret/);
    }
    expect((await rawGet(o.url, '/api/alerts', { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await rawGet(o.url, '/?token=s3cret')).status).toBe(200);
    expect((await rawGet(o.url, '/api/alerts', { Authorization: 'Bearer s3cret' })).body).toContain('secret-class');
    expect((await rawGet(o.url, '/metrics?token=s3cret')).body).toContain('linesight_frames_received_total');
    // Scripts and styles carry no line data and stay public (module imports cannot carry the token).
    expect((await rawGet(o.url, '/app.js')).status).toBe(200);

    const health = JSON.parse((await rawGet(o.url, '/healthz')).body);
    expect(health).toEqual({ alive: true, cameras: [{ id: 'secret-cam', state: 'connecting' }] });

    await expect(connectPage(o.url)).rejects.toMatchObject({ status: 401 });
    await expect(connectPage(o.url, { token: 'wrong' })).rejects.toMatchObject({ status: 401 });
    pages.push(await connectPage(o.url, { token: 's3cret' }), await connectPage(o.url, { token: 's3cret', header: true }));
    await waitFor('hello on both sockets', () => pages.every((p) => p.of('hello').length === 1), 5000);
    expect(o.clients()).toBe(2);
  });
});

describe('overlay stream', () => {
  it('greets a page, then streams previews (encoded once, never upscaled), detections, status and alerts with thumbnails', async () => {
    const source = new HandSource(['wide', 'small']);
    source.alerts = [makeEvent({ camera: 'wide' })];
    const o = await start(source, { preview_width: 320, preview_fps: 5 }, { statusMs: 200 });
    const a = await page(o);
    const b = await page(o);
    const hello = await waitFor('hello', () => a.of('hello')[0], 5000);
    expect(hello).toMatchObject({ v: 1, site: 'plant', line: 'line1', model: { name: 'squares', version: 'fixture-1', provider: 'cpu', classes: ['red', 'green', 'blue'] } });
    expect(hello.cameras.map((c) => c.id)).toEqual(['wide', 'small']);
    expect(a.of('alerts')[0].alerts).toHaveLength(1);

    const square = { x: 200, y: 120, w: 96, h: 64 };
    const wide = rgbFrame(640, 360, { square });
    const small = rgbFrame(160, 120);
    let seq = 0;
    const t = setInterval(() => {
      seq++;
      source.pushFrame({ camera: 'wide', seq, captureTs: Date.now(), width: 640, height: 360, rgb: wide });
      source.pushFrame({ camera: 'small', seq, captureTs: Date.now(), width: 160, height: 120, rgb: small });
    }, 50); // 20 fps in, 5 fps out
    timers.push(t);
    await waitFor('previews of both cameras', () => a.previews.filter((p) => p.camera === 'small').length >= 3 && a.previews.filter((p) => p.camera === 'wide').length >= 3, 10_000);

    const p = a.previews.find((x) => x.camera === 'wide')!;
    expect(p).toMatchObject({ width: 640, height: 360 });

    // Throttled to the preview rate, 5 a second per camera, not 20: the limiter's bucket holds two
    // previews, so any k consecutive previews of a camera span at least (k - 2) × 200 ms of capture
    // time. Unthrottled, twelve would span 550 ms.
    const from = a.previews.length;
    const fresh = (camera: string) => a.previews.slice(from).filter((x) => x.camera === camera);
    await waitFor('twelve more previews of each camera', () => fresh('wide').length >= 12 && fresh('small').length >= 12, 20_000);
    for (const camera of ['wide', 'small']) expectSpacedAtMost(fresh(camera).map((x) => x.captureTs), 5);

    // Encoded once for both pages.
    const metrics = (await rawGet(o.url, '/metrics')).body;
    const encoded = Number(/linesight_overlay_previews_encoded_total (\d+)/.exec(metrics)![1]);
    const sent = Number(/linesight_overlay_previews_sent_total (\d+)/.exec(metrics)![1]);
    expect(sent).toBeGreaterThanOrEqual(2 * encoded - 4);
    expect(sent).toBeLessThanOrEqual(2 * encoded);
    expect(b.previews.length).toBeGreaterThan(0);

    // Detections and tracks travel as sent, in source pixels with the frame size.
    const frame = { camera: 'wide', seq: 99, captureTs: Date.now() - 30, captureMono: performance.now() - 30, width: 640, height: 360, pictured: false };
    source.pushInspected({ frame, detections: [{ classId: 0, className: 'red', confidence: 0.9, box: square }], inferredAt: Date.now(), latencyMs: 40, inferMs: 9, batchSize: 2 },
      [{ trackId: 4, classId: 0, className: 'red', confidence: 0.9, box: square, confirmed: true, hits: 3, age: 4, missed: 0 }]);
    const det = await waitFor('detections', () => a.of('detections')[0], 5000);
    expect(det).toMatchObject({ v: 1, camera: 'wide', seq: 99, ts: frame.captureTs, frame: { width: 640, height: 360 }, detections: [{ className: 'red', box: square }], tracks: [{ trackId: 4, confirmed: true }] });

    const status = await waitFor('status with counts', () => a.of('status').at(-1)?.cameras.find((c) => c.id === 'wide' && c.framesInspected === 1), 5000);
    expect(status).toMatchObject({ state: 'online', provider: 'cpu', restarts: 0, framesDropped: { superseded: 0 } });
    expect(status.coverage).toBeCloseTo(1 / status.framesReceived, 6);
    expect(status.frameAgeMs).toBeGreaterThanOrEqual(0);
    expect(status.frameAgeMs).toBeLessThan(1000);

    // A live alert carries a crop of its box from the camera's newest frame.
    const alert = makeEvent({ camera: 'wide', className: 'red', box: square, frame: { width: 640, height: 360, ts: Date.now() } });
    source.pushAlert(alert);
    const got = await waitFor('alert', () => b.of('alert')[0], 5000);
    expect(got.alert).toMatchObject({ id: alert.id, camera: 'wide', className: 'red', box: square });
    const thumb = await sharp(Buffer.from(got.alert.thumbnail!, 'base64')).metadata();
    expect(thumb.format).toBe('jpeg');
    expect(Math.max(thumb.width!, thumb.height!)).toBeLessThanOrEqual(THUMBNAIL_SIZE);
  });

  /** How red a JPEG thumbnail is: mean red minus mean green (the square is red, the rest grey). */
  async function redness(base64: string): Promise<number> {
    const { channels } = await sharp(Buffer.from(base64, 'base64')).stats();
    return channels[0].mean - channels[1].mean;
  }

  it("cuts an alert's thumbnail from the picture it comes with, else from the camera's newest picture, and gives both back", async () => {
    const source = new HandSource(['wide']);
    const o = await start(source, { preview_width: 320, preview_fps: 5 });
    const a = await page(o);
    await waitFor('hello', () => a.of('hello')[0], 5000);
    const square = { x: 200, y: 120, w: 96, h: 64 };
    // The newest picture the line has is plain grey; the alert's own picture shows the red square.
    const newest = source.pushFrame({ camera: 'wide', seq: 1, captureTs: Date.now(), width: 640, height: 360, rgb: rgbFrame(640, 360) });
    const ts = Date.now();
    source.pushAlert(makeEvent({ camera: 'wide', className: 'red', box: square, frame: { width: 640, height: 360, ts } }),
      { seq: 2, captureTs: ts, rgb: rgbFrame(640, 360, { square }) });
    const got = await waitFor('alert', () => a.of('alert')[0], 5000);
    expect(await redness(got.alert.thumbnail!)).toBeGreaterThan(40);
    // Without a picture of its own, the newest one (grey) stands in.
    source.pushAlert(makeEvent({ camera: 'wide', className: 'red', box: square, frame: { width: 640, height: 360, ts: Date.now() } }));
    const late = await waitFor('second alert', () => a.of('alert')[1], 5000);
    expect(Math.abs(await redness(late.alert.thumbnail!))).toBeLessThan(10);
    // The page holds the newest picture only until a newer comes, and none once closed.
    await o.close();
    expect(() => newest.hold()).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });

  it('keeps the preview size and aspect: downscales to preview_width, never upscales', async () => {
    const source = new HandSource(['wide', 'small']);
    const o = await start(source, { preview_width: 320, preview_fps: 5 });
    const sizes = new Map<string, { width: number; height: number }>();
    const a = await page(o);
    a.ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      const buf = data as Buffer;
      const jpeg = buf.subarray(18 + buf[1]);
      void sharp(jpeg).metadata().then((m) => sizes.set(buf.subarray(2, 2 + buf[1]).toString(), { width: m.width!, height: m.height! }));
    });
    pump(source, ['wide'], 5, 640, 360, [rgbFrame(640, 360)]);
    pump(source, ['small'], 5, 160, 120, [rgbFrame(160, 120)]);
    await waitFor('sizes of both previews', () => sizes.size === 2, 10_000);
    expect(sizes.get('wide')).toEqual({ width: 320, height: 180 });
    expect(sizes.get('small')).toEqual({ width: 160, height: 120 });
  });
});

describe('overlay backpressure and abuse', () => {
  it('skips previews for a page that does not read, keeps memory flat, and the other page keeps its rate', async () => {
    const source = new HandSource(['cam1']);
    const skipAbove = 1024 * 1024;
    const o = await start(source, { preview_width: 640, preview_fps: 10 }, { skipAbove, dropAbove: 64 * 1024 * 1024, heartbeatMs: 60_000 });
    const stalled = await page(o);
    const healthy = await page(o);
    (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();

    const noise = [1, 2, 3, 4].map((seed) => rgbFrame(640, 480, { noise: true, seed }));
    pump(source, ['cam1'], 10, 640, 480, noise);
    await waitFor('previews flowing to the healthy page', () => healthy.previews.length >= 5, 20_000);
    const heapBefore = process.memoryUsage().heapUsed;

    const stalledStats = () => o.clientStats().find((c) => c.previewsSkipped > 0);
    const first = await waitFor('previews skipped for the stalled page', stalledStats, 30_000, 100);
    const sentWhenSkipping = first.previewsSent;

    const mark = healthy.previews.length;
    let maxBuffered = 0;
    await waitFor('twenty more previews skipped for the stalled page', () => {
      for (const c of o.clientStats()) maxBuffered = Math.max(maxBuffered, c.bufferedAmount);
      return stalledStats()!.previewsSkipped > first.previewsSkipped + 20;
    }, 30_000, 50);
    const later = stalledStats()!;
    // The healthy page keeps its rate: every preview broadcast meanwhile (sent to or skipped for the stalled page) reaches it.
    const broadcast = later.previewsSent + later.previewsSkipped - (first.previewsSent + first.previewsSkipped);
    await waitFor(`the ${broadcast} previews broadcast meanwhile at the healthy page`, () => healthy.previews.length >= mark + broadcast, 10_000);

    // At most the preview that crossed the limit is sent after skipping starts (encodes that were in flight).
    expect(later.previewsSent - sentWhenSkipping).toBeLessThanOrEqual(2);
    // One preview of 640×480 noise is ~160 KB: the stalled page's buffer stops one message past the limit.
    expect(maxBuffered).toBeLessThan(skipAbove + 512 * 1024);
    const healthyStats = o.clientStats().find((c) => c.id !== later.id)!;
    expect(healthyStats.previewsSkipped).toBe(0);
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    expect(heapGrowth).toBeLessThan(48 * 1024 * 1024);
  });

  it('disconnects a page whose buffer passes the hard limit; the other page carries on', async () => {
    const source = new HandSource(['cam1']);
    const o = await start(source, { preview_width: 640, preview_fps: 10 }, { skipAbove: 256 * 1024, dropAbove: 512 * 1024, heartbeatMs: 60_000 });
    const stalled = await page(o);
    const healthy = await page(o);
    (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    pump(source, ['cam1'], 10, 640, 480, [1, 2].map((seed) => rgbFrame(640, 480, { noise: true, seed })));
    await waitFor('a skipping phase', () => o.clientStats().some((c) => c.previewsSkipped > 0), 20_000, 50);
    // Alerts are never skipped: they pile onto the stalled page's buffer until it crosses dropAbove.
    const fat = makeEvent({ camera: 'cam1' });
    const t = setInterval(() => source.pushAlert({ ...fat, id: `${fat.id}-${Math.random()}`, className: 'x'.repeat(60_000) }), 20);
    timers.push(t);
    await waitFor('the stalled page dropped', () => o.clients() === 1, 20_000, 50);
    clearInterval(t);
    expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
    const n = healthy.previews.length;
    await waitFor('previews still reaching the healthy page', () => healthy.previews.length > n + 5, 10_000);
    expect((await rawGet(o.url, '/metrics')).body).toContain('linesight_overlay_clients 1');
  });

  it('drops a page that stops answering pings', async () => {
    const o = await start(new HandSource(['cam1']), {}, { heartbeatMs: 300 });
    const dead = await page(o);
    const alive = await page(o);
    await waitFor('hello', () => dead.of('hello').length > 0, 5000);
    (dead.ws as unknown as { _socket: { pause(): void } })._socket.pause(); // a frozen page: no pong
    await waitFor('the dead page dropped', () => o.clients() === 1, 5000, 50);
    expect(o.clientStats()[0].id).toBeGreaterThan(0);
    expect(alive.ws.readyState).toBe(alive.ws.OPEN);
  });

  it('closes a connection that sends malformed, binary or oversized messages; the others carry on', async () => {
    const source = new HandSource(['cam1']);
    const o = await start(source, { preview_fps: 5 });
    const good = await page(o);
    pump(source, ['cam1'], 5, 160, 120, [rgbFrame(160, 120)]);

    const cases: Array<[string, (p: Received) => void, number]> = [
      ['not JSON', (p) => p.ws.send('{nope'), CloseCodes.malformed],
      ['JSON of the wrong shape', (p) => p.ws.send(JSON.stringify({ v: 1, type: 'subscribe', cameras: ['*'] })), CloseCodes.malformed],
      ['wrong version', (p) => p.ws.send(JSON.stringify({ v: 2, type: 'ping' })), CloseCodes.malformed],
      ['binary', (p) => p.ws.send(Buffer.from([1, 2, 3])), CloseCodes.unsupported],
      ['oversized', (p) => p.ws.send('x'.repeat(MAX_CLIENT_MESSAGE + 1)), 1009],
    ];
    for (const [what, send, code] of cases) {
      const bad = await page(o);
      send(bad);
      const closed = await bad.closed;
      expect({ what, code: closed.code }).toEqual({ what, code });
    }
    await waitFor('only the good page left', () => o.clients() === 1, 5000);
    good.ws.send(JSON.stringify({ v: 1, type: 'ping', id: 7 }));
    await waitFor('pong', () => good.of('pong').find((m) => m.id === 7), 5000);
    const n = good.previews.length;
    await waitFor('previews still flowing', () => good.previews.length > n + 2, 5000);
    expect((await rawGet(o.url, '/healthz')).status).toBe(200);
  });

  it('refuses pages beyond max_clients with close code 1013 and a reason', async () => {
    const o = await start(new HandSource(['cam1']), { max_clients: 2 });
    await page(o);
    await page(o);
    const third = await page(o);
    expect(await third.closed).toEqual({ code: CloseCodes.tryAgainLater, reason: 'too many clients (max 2)' });
    expect(third.of('hello')).toHaveLength(0);
    expect(o.clients()).toBe(2);
  });

  it('closes cleanly: pages told 1001, listeners removed', async () => {
    const source = new HandSource(['cam1']);
    const o = await start(source);
    const p = await page(o);
    expect(source.listenerCount).toBe(3);
    await o.close();
    expect((await p.closed).code).toBe(CloseCodes.goingAway);
    expect(source.listenerCount).toBe(0);
  });
});

describe('overlay action: re-learn a camera\'s health baseline', () => {
  const post = (o: Overlay, path: string, headers: Record<string, string> = {}) =>
    fetch(new URL(path, o.url), { method: 'POST', headers });

  it('needs POST, the token, and the overlay\'s own page; unknown cameras get 404', async () => {
    const source = new HandSource(['cam1']);
    const o = await start(source, { token: 's3cret' });
    const auth = { authorization: 'Bearer s3cret' };
    expect((await fetch(new URL('/api/cameras/cam1/relearn', o.url))).status).toBe(405);
    expect((await post(o, '/api/cameras/cam1/relearn')).status).toBe(401);
    const foreign = await post(o, '/api/cameras/cam1/relearn', { ...auth, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { message: string }).message).toMatch(/evil\.example/);
    const unknown = await post(o, '/api/cameras/cam9/relearn', auth);
    expect(unknown.status).toBe(404);
    expect(source.relearned).toEqual([]);
    const own = await post(o, '/api/cameras/cam1/relearn', { ...auth, origin: new URL(o.url).origin });
    expect(own.status).toBe(202);
    expect(await own.json()).toEqual({ v: 1, camera: 'cam1', relearning: true });
    expect(source.relearned).toEqual(['cam1']);
  });

  it('refuses a cross-site page even on an overlay without a token', async () => {
    const source = new HandSource(['cam1']);
    const o = await start(source);
    expect((await post(o, '/api/cameras/cam1/relearn', { origin: 'https://evil.example' })).status).toBe(403);
    expect((await post(o, '/api/cameras/cam1/relearn')).status).toBe(202);
    expect(source.relearned).toEqual(['cam1']);
  });

  it('is what `linesight relearn CAMERA` asks of the running line, as its own process', async () => {
    const source = new HandSource(['cam1']);
    const o = await start(source, { token: 'k3y' });
    const dir = mkdtempSync(join(tmpdir(), 'linesight-relearn-'));
    try {
      const file = join(dir, 'line.yaml');
      writeFileSync(file, `cameras:\n  - id: cam1\n    url: a.mp4\nmodel:\n  path: missing.onnx\noverlay:\n  host: 127.0.0.1\n  port: ${o.port}\n  token: k3y\n`);
      const ok = await runCli(['relearn', 'cam1', '--config', file]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/cam1: learning its picture again/);
      expect(source.relearned).toEqual(['cam1']);
      const bad = await runCli(['relearn', 'cam7', '--config', file]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/404.*cam7/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
