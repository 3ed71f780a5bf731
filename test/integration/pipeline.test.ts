import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { startLine, type Line } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import type { InspectedFrame } from '../../src/types.js';
import { makeClip } from '../helpers/clips.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp.js';
import { waitFor } from '../helpers/wait.js';

const MODEL = join(import.meta.dirname, '../fixtures/models/squares-v8.onnx');

let line: Line | undefined;
const servers: RtspServer[] = [];

type CameraSpec = { id: string; url: string; realtime?: boolean; loop?: boolean };

function config(cameras: CameraSpec[], sessions: number | 'auto' = 'auto'): Config {
  const { config: cfg, problems } = validateConfig({
    cameras: cameras.map((c) => ({ ...c, fps: 5 })),
    model: { path: MODEL, confidence: 0.5, sessions },
    ingest: { backoff_initial: 0.2, backoff_max: 1 },
    store: { path: join(mkdtempSync(join(tmpdir(), 'linesight-pipe-')), 'line.db') },
    mqtt: { embedded_port: 0 },
    overlay: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
  });
  if (!cfg) throw new Error(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return cfg;
}

async function collect(cameras: CameraSpec[], perCamera: number, sessions?: number): Promise<Map<string, InspectedFrame[]>> {
  line = await startLine(config(cameras, sessions), silentLogger());
  const seen = new Map<string, InspectedFrame[]>(cameras.map((c) => [c.id, []]));
  line.onInspected((r) => seen.get(r.frame.camera)!.push(r));
  await waitFor(`${perCamera} inspected frames per camera`, () => [...seen.values()].every((v) => v.length >= perCamera), 30_000);
  return seen;
}

afterEach(async () => {
  await line?.stop();
  line = undefined;
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await expectNoStrays();
});
afterAll(() => killStrays());

describe('end to end: camera → ffmpeg letterbox → ONNX → detections in source pixels', () => {
  const squares = {
    '1280x720': { width: 1280, height: 720, square: { color: 'red' as const, x: 412, y: 236, w: 160, h: 120 }, tol: 5 },
    '640x480': { width: 640, height: 480, square: { color: 'red' as const, x: 206, y: 118, w: 80, h: 60 }, tol: 3 },
  };

  for (const [name, s] of Object.entries(squares)) {
    it(`finds a square drawn at known pixels, file and RTSP cameras, ${name}`, async () => {
      const clip = await makeClip({ width: s.width, height: s.height, fps: 10, seconds: 6, squares: [s.square] });
      const server = await startRtspServer({ clip, loop: true });
      servers.push(server);
      const seen = await collect([{ id: 'file', url: clip }, { id: 'rtsp', url: server.url }], 3);
      for (const [camera, results] of seen) {
        const last = results.at(-1)!;
        expect(last.frame).toMatchObject({ camera, width: s.width, height: s.height });
        expect(last.detections).toHaveLength(1);
        const d = last.detections[0];
        expect(d.className).toBe('red');
        expect(Math.abs(d.box.x - s.square.x)).toBeLessThanOrEqual(s.tol);
        expect(Math.abs(d.box.y - s.square.y)).toBeLessThanOrEqual(s.tol);
        expect(Math.abs(d.box.w - s.square.w)).toBeLessThanOrEqual(s.tol);
        expect(Math.abs(d.box.h - s.square.h)).toBeLessThanOrEqual(s.tol);
        expect(last.inferredAt).toBeGreaterThanOrEqual(last.frame.captureTs);
      }
      const snaps = line!.cameras();
      expect(snaps.every((c) => c.framesInspected >= 3 && c.state === 'online')).toBe(true);
    });
  }

  it('batches frames of several cameras into one session call (model.sessions: 1) and accounts for every frame', async () => {
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 6, squares: [{ color: 'green', x: 10, y: 10, w: 40, h: 40 }] });
    // Replayed as fast as possible, every camera always has a frame waiting while a call runs, so calls are
    // batched whatever the machine's load; live cameras batch only when their frames happen to come together.
    const seen = await collect([1, 2, 3, 4].map((i) => ({ id: `c${i}`, url: clip, realtime: false, loop: true })), 10, 1);
    const all = [...seen.values()].flat();
    expect(Math.max(...all.map((r) => r.batchSize))).toBeGreaterThan(1);
    for (const snap of line!.cameras()) {
      const dropped = Object.values(snap.framesDropped).reduce((a, b) => a + b, 0);
      // Every received frame is either inspected, dropped (counted), or still on its way: in the batch in flight,
      // waiting in its slot, or decoded behind that one and held there by flow control.
      expect(snap.framesReceived - snap.framesInspected - dropped).toBeGreaterThanOrEqual(0);
      expect(snap.framesReceived - snap.framesInspected - dropped).toBeLessThanOrEqual(3);
    }
  });

  it('closes everything it opened when a later stage cannot start (a port in use), so a retry can start', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const overlayPort = (busy.address() as AddressInfo).port;
    const brokerPort = await freePort();
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 2, squares: [] });
    const base = config([{ id: 'c1', url: clip }]);
    const cfg = { ...base, mqtt: { ...base.mqtt, embedded_port: brokerPort }, overlay: { ...base.overlay, port: overlayPort } };
    try {
      await expect(startLine(cfg, silentLogger())).rejects.toMatchObject({ code: 'E_OVERLAY_LISTEN' });
      // The embedded broker that had started was closed: its port can be taken again.
      const again = createServer();
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.listen(brokerPort, '127.0.0.1', resolve);
      });
      await new Promise<void>((resolve) => again.close(() => resolve()));
      // The same configuration with a free overlay port starts: nothing of the failed start holds the database.
      line = await startLine({ ...cfg, overlay: { ...cfg.overlay, port: 0 } }, silentLogger());
      await waitFor('a frame inspected', () => line!.cameras().some((c) => c.framesInspected > 0), 30_000);
    } finally {
      busy.close();
    }
  });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
