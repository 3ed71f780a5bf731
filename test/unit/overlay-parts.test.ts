import { describe, expect, it } from 'vitest';
import { decodePreview, encodePreview, parseClientMessage } from '../../src/overlay/protocol.js';
import { RateLimiter } from '../../src/overlay/rate-limiter.js';
import { staticKey } from '../../src/overlay/static-files.js';
import sharp from 'sharp';
import { cropRgb, thumbnailRegion } from '../../src/overlay/thumbnail.js';
import { PreviewEncoder } from '../../src/overlay/preview.js';
import { PictureShelf } from '../../src/events/picture-shelf.js';
import { silentLogger } from '../../src/log.js';
import { fitFrame, mapBox } from '../../web/geometry.js';
import { waitFor } from '../helpers/wait.js';
import { makePicture } from '../helpers/pictures.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe('preview message layout', () => {
  it('round-trips the header and keeps the JPEG bytes', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]);
    const msg = encodePreview({ camera: 'kamera-ü', captureTs: 1_752_000_000_123, seq: 4_294_967_297, width: 1920, height: 1080 }, jpeg);
    expect(msg[0]).toBe(1);
    expect(msg[1]).toBe(Buffer.byteLength('kamera-ü'));
    expect(msg.length).toBe(18 + msg[1] + jpeg.length);
    const back = decodePreview(msg);
    expect(back).toMatchObject({ camera: 'kamera-ü', captureTs: 1_752_000_000_123, seq: 1, width: 1920, height: 1080 });
    expect(Buffer.compare(back.jpeg, jpeg)).toBe(0);
  });

  it('refuses camera ids it cannot frame', () => {
    expect(() => encodePreview({ camera: '', captureTs: 0, seq: 0, width: 1, height: 1 }, Buffer.alloc(0))).toThrow(/1–255/);
    expect(() => encodePreview({ camera: 'x'.repeat(256), captureTs: 0, seq: 0, width: 1, height: 1 }, Buffer.alloc(0))).toThrow(/256 bytes/);
  });
});

describe('client messages', () => {
  it('accepts only v1 pings', () => {
    expect(parseClientMessage('{"v":1,"type":"ping"}')).toEqual({ v: 1, type: 'ping' });
    expect(parseClientMessage('{"v":1,"type":"ping","id":"a"}')).toEqual({ v: 1, type: 'ping', id: 'a' });
    for (const bad of ['', 'null', '[]', '{"v":1}', '{"v":"1","type":"ping"}', '{"v":1,"type":"ping","id":{}}', '{"v":1,"type":"hello"}', '{']) {
      expect(parseClientMessage(bad)).toBeNull();
    }
  });
});

describe('RateLimiter', () => {
  it('passes 8 of 10 frames of a 10 fps camera at 8 fps, despite 1 ms of jitter', () => {
    const r = new RateLimiter(8);
    let passed = 0;
    for (let i = 0; i < 100; i++) if (r.take(i * 100 + (i % 2 ? -1 : 1))) passed++;
    expect(passed).toBeGreaterThanOrEqual(80);
    expect(passed).toBeLessThanOrEqual(81);
  });

  it('passes every frame of a camera slower than the rate, and rejects bursts beyond two', () => {
    const slow = new RateLimiter(8);
    expect([0, 200, 400, 600].map((t) => slow.take(t))).toEqual([true, true, true, true]);
    const burst = new RateLimiter(5);
    burst.take(0);
    expect([5000, 5001, 5002, 5003].map((t) => burst.take(t))).toEqual([true, true, false, false]);
    expect(() => new RateLimiter(0)).toThrow(/positive rate/);
  });
});

describe('PreviewEncoder rate', () => {
  it('encodes each camera at most at preview fps on its own budget, by the clock the test sets', async () => {
    // The encoder's limiter reads the clock the test moves; sharp and the waits run for real.
    const t0 = 1_752_000_000_000;
    const clock = new FakeClock(t0);
    const got = new Map<string, number[]>();
    const previews = new PreviewEncoder({ width: 64, fps: 5, clock }, () => true, (_camera, message) => {
      const p = decodePreview(message);
      got.set(p.camera, [...(got.get(p.camera) ?? []), p.captureTs - t0]);
    }, silentLogger());
    const rgb = Buffer.alloc(16 * 12 * 3, 100);
    const c = previews.counters;
    let offered = 0;
    const offer = (camera: string, seq: number) => {
      const picture = makePicture({ camera, seq, captureTs: clock.now(), width: 16, height: 12 }, rgb);
      previews.offer(picture);
      picture.release();
      offered++;
    };
    // Two seconds: camera a at 20 fps, b at 10 fps, c at 4 fps (slower than the rate).
    for (let i = 0; i < 40; i++) {
      clock.advanceTo(t0 + i * 50);
      offer('a', i);
      if (i % 2 === 0) offer('b', i);
      if (i % 5 === 0) offer('c', i);
      // Each frame offered once the encodes it started are done: nothing is dropped as busy, only by the rate.
      await waitFor('the encodes to finish', () => c.encoded + c.failed + c.throttled + c.busy === offered, 5000, 2);
    }
    const everyFifth = Array.from({ length: 10 }, (_, k) => k * 200);
    expect(got.get('a')).toEqual(everyFifth);
    expect(got.get('b')).toEqual(everyFifth);
    expect(got.get('c')).toEqual(Array.from({ length: 8 }, (_, k) => k * 250));
    expect(c).toEqual({ encoded: 28, throttled: 40, busy: 0, failed: 0 });
  });
});

describe('static paths', () => {
  it('maps / to the page and refuses anything that climbs', () => {
    expect(staticKey('/')).toBe('/index.html');
    expect(staticKey('/app.js')).toBe('/app.js');
    for (const p of ['/../x', '/%2e%2e/x', '/a/..%2f..%2fetc/passwd', '/%2e/x', '/%zz', '/a%00', '/..%5cx']) expect(staticKey(p)).toBeNull();
  });
});

describe('thumbnail region', () => {
  it('adds a quarter of the box (at least 8 px) and clamps to the frame', () => {
    expect(thumbnailRegion({ x: 100, y: 100, w: 40, h: 20 }, 640, 480)).toEqual({ left: 90, top: 92, width: 60, height: 36 });
    expect(thumbnailRegion({ x: 0, y: 470, w: 100, h: 10 }, 640, 480)).toEqual({ left: 0, top: 462, width: 125, height: 18 });
    expect(thumbnailRegion({ x: 700, y: 10, w: 10, h: 10 }, 640, 480)).toBeNull();
  });
});

describe('page geometry (web/geometry.js)', () => {
  it('letterboxes a 16:9 frame into a 4:3 canvas and maps boxes through the same transform', () => {
    const fit = fitFrame(1280, 720, 800, 600);
    expect(fit).toEqual({ scale: 0.625, x: 0, y: 75, w: 800, h: 450 });
    expect(mapBox({ x: 412, y: 236, w: 160, h: 120 }, fit)).toEqual({ x: 257.5, y: 222.5, w: 100, h: 75 });
  });

  it('pillarboxes a 4:3 frame into a wide canvas', () => {
    const fit = fitFrame(640, 480, 1000, 300);
    expect(fit).toEqual({ scale: 0.625, x: 300, y: 0, w: 400, h: 300 });
    expect(fitFrame(0, 480, 100, 100).scale).toBe(0);
  });
});

describe('pictures: shares held while kept, given back when done', () => {
  const at = (seq: number) => makePicture({ camera: 'c', seq, captureTs: 1000 + seq * 100, width: 4, height: 2 }, Buffer.alloc(4 * 2 * 3, seq));

  it('a thumbnail comes from the picture of the frame itself, else from the nearest one on the shelf', () => {
    const shelf = new PictureShelf(3);
    const made = [1, 4, 6, 7].map(at);
    for (const p of made) {
      shelf.put(p);
      p.release(); // the camera's share; the shelf holds its own
    }
    expect(shelf.has('c', 1)).toBe(false); // pushed off: three per camera
    expect(() => made[0].hold()).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
    expect(shelf.near('c', 1400)?.seq).toBe(4);
    expect(shelf.near('c', 1500)?.seq).toBe(4);
    expect(shelf.near('c', 1100)?.seq).toBe(4);
    expect(shelf.near('c', 1690)?.seq).toBe(7);
    expect(shelf.near('other', 1100)).toBeUndefined();
    shelf.clear('c');
    for (const p of made.slice(1)) expect(() => p.hold()).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });

  it('the preview keeps the newest picture of each camera and gives the one before back', async () => {
    const sent: string[] = [];
    const previews = new PreviewEncoder({ width: 960, fps: 1000 }, () => true, (camera) => sent.push(camera), silentLogger());
    const first = at(1);
    previews.offer(first);
    first.release();
    const second = at(2);
    previews.offer(second);
    second.release();
    expect(previews.latest('c')?.seq).toBe(2);
    expect(() => first.hold()).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
    expect(second.hold()).toBe(second);
    second.release();
    await waitFor('the preview', () => sent.length > 0, 5000, 10);
    previews.close();
    expect(() => second.hold()).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });

  it('the preview encodes its own copy of the picture: the camera may reuse the buffer while sharp works', async () => {
    const messages: Buffer[] = [];
    const previews = new PreviewEncoder({ width: 960, fps: 1000 }, () => true, (_camera, message) => messages.push(message), silentLogger());
    const rgb = Buffer.alloc(64 * 48 * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb[i] = 220; // red
    const picture = makePicture({ camera: 'c', seq: 1, captureTs: 1, width: 64, height: 48 }, rgb);
    previews.offer(picture);
    picture.release();
    picture.rgb.fill(0); // what a camera reusing the buffer at once would do
    await waitFor('the preview', () => messages.length > 0, 5000, 10);
    const jpeg = decodePreview(messages[0] as Buffer).jpeg;
    const { data } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).toBeGreaterThan(180); // red, as offered
    expect(data[1]).toBeLessThan(40);
  });

  it('a thumbnail crop copies exactly the pixels sharp would extract', async () => {
    const width = 37;
    const height = 23;
    const rgb = Buffer.from(Array.from({ length: width * height * 3 }, (_, i) => (i * 7) % 256));
    const region = { left: 5, top: 3, width: 11, height: 9 };
    const bySharp = await sharp(rgb, { raw: { width, height, channels: 3 } }).extract(region).raw().toBuffer();
    expect(cropRgb(rgb, width, region).equals(bySharp)).toBe(true);
  });
});
