/**
 * Camera health on real parts: clips made by the real ffmpeg with sensor noise
 * and faults at known times, read by the real `Camera` (a file camera in real
 * time, and the GStreamer RTSP server), into a `CameraHealthMonitor`. Each
 * fault must give exactly one `degraded` change with its reason within its
 * hold time + 1 s of its start and one `ok` within the clear time + 1 s of its
 * end; a live clip whose scene stands still, a clean clip and the bundled demo
 * clip with the default config must give none.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { cameraSchema, healthSchema, type IngestConfig } from '../../src/config/schema.js';
import { CameraHealthMonitor, type HealthChange, type HealthReason } from '../../src/health/index.js';
import { Camera } from '../../src/ingest/camera.js';
import type { LetterboxPlan } from '../../src/ingest/ffmpeg-args.js';
import { silentLogger } from '../../src/log.js';
import { LETTERBOX_PAD } from '../../src/preprocess/letterbox.js';
import type { Frame } from '../../src/types.js';
import { makeFaultClip, type FaultKind } from '../helpers/clips.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp.js';
import { waitFor } from '../helpers/wait.js';

const INGEST: IngestConfig = { stall_timeout: 20, start_timeout: 20, backoff_initial: 0.2, backoff_max: 1, stable_after: 10, decode_threads: 1, decoder_scheduling: 'batch' };
/** The model input of the bundled model; pictures are not needed here. */
const PLAN: LetterboxPlan = { width: 320, height: 320, pictureEvery: 1000, pad: LETTERBOX_PAD };
/** Short learning and holds, so that a 20 s clip has room for a fault and its end. */
const SHORT = { learn_seconds: 4, frozen_after: 2, dark_after: 2, blurred_after: 2, moved_after: 2, clear_after: 2 };
const HOLD = 2;
const CLEAR = 2;
const CLIP_SECONDS = 20;
const FAULT = { from: 7, to: 13 };
const DEMO_CLIP = fileURLToPath(new URL('../../models/demo/conveyor.mp4', import.meta.url));

const cameras: Camera[] = [];
const servers: RtspServer[] = [];

interface Seen {
  /** Clip time (s) of the frame being looked at when the change came. */
  at: number;
  change: HealthChange;
}

/**
 * A camera on `url` whose frames go to a health monitor (then are released, as
 * the scheduler would), with each change stamped by clip time: the frame's
 * stream time since the first frame (the clip starts at 0).
 */
function watch(url: string, health: Record<string, unknown> = SHORT) {
  const cam = new Camera(cameraSchema.parse({ id: `hc${cameras.length + 1}`, url, fps: 5, loop: false }), INGEST, silentLogger(), { letterbox: PLAN });
  const monitor = new CameraHealthMonitor(cam.id, healthSchema.parse(health));
  const seen: Seen[] = [];
  let first: number | undefined;
  let now = 0;
  monitor.on('change', (change) => seen.push({ at: now, change }));
  cam.on('frame', (f: Frame) => {
    const t = f.mediaTs ?? f.captureMono;
    first ??= t;
    now = (t - first) / 1000;
    monitor.offer(f);
    f.input.release();
  });
  cameras.push(cam);
  cam.start();
  return { cam, monitor, seen, clipTime: () => now };
}

type Watched = ReturnType<typeof watch>;

const REASON: Record<Exclude<FaultKind, 'still'>, HealthReason> = { freeze: 'frozen', black: 'dark', cover: 'covered', blur: 'blurred', shift: 'moved' };

async function played(w: Watched, seconds = CLIP_SECONDS - 0.5): Promise<void> {
  await waitFor(`${w.cam.id} to play its clip to ${seconds} s (at ${w.clipTime().toFixed(1)} s, state ${w.cam.snapshot().state})`, () => w.clipTime() >= seconds, 60_000, 100);
}

/** Asserts one degraded change for the fault's reason and one ok after it, in time; returns the delays. */
function expectFault(kind: Exclude<FaultKind, 'still'>, w: Watched, via: string) {
  const summary = w.seen.map((s) => `${s.at.toFixed(1)} s ${s.change.state} [${s.change.reasons}]`).join('; ');
  expect(w.seen.map((s) => [s.change.state, s.change.reasons]), `${via} ${kind}: changes seen: ${summary}`).toEqual([['degraded', [REASON[kind]]], ['ok', []]]);
  const detect = w.seen[0].at - FAULT.from;
  const clear = w.seen[1].at - FAULT.to;
  expect(detect, `${via} ${kind}: degraded ${detect.toFixed(2)} s after the fault began`).toBeGreaterThanOrEqual(0);
  expect(detect, `${via} ${kind}: degraded ${detect.toFixed(2)} s after the fault began`).toBeLessThanOrEqual(HOLD + 1);
  expect(clear, `${via} ${kind}: ok ${clear.toFixed(2)} s after the fault ended`).toBeGreaterThanOrEqual(0);
  expect(clear, `${via} ${kind}: ok ${clear.toFixed(2)} s after the fault ended`).toBeLessThanOrEqual(CLEAR + 1);
  expect(w.seen[0].change.values.brightness).toBeGreaterThanOrEqual(0);
  return { detect, clear };
}

function report(via: string, kind: string, r: { detect: number; clear: number }): void {
  console.log(`health ${via} ${kind}: degraded after ${r.detect.toFixed(1)} s, ok ${r.clear.toFixed(1)} s after the end, 0 false alarms`);
}

afterEach(async () => {
  await Promise.all(cameras.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await expectNoStrays();
});

afterAll(() => killStrays());

describe('camera health on real ffmpeg', () => {
  it('reports each fault of a file camera once, with its reason, and clears it after the fault', async () => {
    const kinds = ['freeze', 'black', 'cover', 'blur', 'shift'] as const;
    const clips = await Promise.all(kinds.map((kind) => makeFaultClip({ seconds: CLIP_SECONDS, faults: [{ kind, ...FAULT }] })));
    const watched = clips.map((clip) => watch(clip));
    await Promise.all(watched.map((w) => played(w)));
    kinds.forEach((kind, i) => report('file', kind, expectFault(kind, watched[i], 'file')));
    for (const w of watched) expect(w.monitor.snapshot()).toMatchObject({ state: 'ok', learning: false });
  }, 90_000);

  it('reports faults of an RTSP camera the same way', async () => {
    const kinds = ['freeze', 'cover'] as const;
    const clips = await Promise.all(kinds.map((kind) => makeFaultClip({ seconds: CLIP_SECONDS, faults: [{ kind, ...FAULT }] })));
    const started = await Promise.all(clips.map((clip) => startRtspServer({ clip })));
    servers.push(...started);
    const watched = started.map((s) => watch(s.url));
    await Promise.all(watched.map((w) => played(w, CLIP_SECONDS - 1)));
    kinds.forEach((kind, i) => report('rtsp', kind, expectFault(kind, watched[i], 'rtsp')));
  }, 90_000);

  it('raises nothing on a clean live clip, nor on one whose scene stands still for longer than frozen_after', async () => {
    const clean = watch(await makeFaultClip({ seconds: CLIP_SECONDS }));
    const still = watch(await makeFaultClip({ seconds: CLIP_SECONDS, faults: [{ kind: 'still', ...FAULT }] }));
    await Promise.all([played(clean), played(still)]);
    expect(clean.seen, 'changes on the clean clip').toEqual([]);
    expect(still.seen, 'changes on the clip whose scene stood still for 6 s (frozen_after 2 s)').toEqual([]);
    // The still scene was judged: past learning, and it really stood still between samples.
    expect(still.monitor.snapshot()).toMatchObject({ state: 'ok', learning: false });
    console.log('health file clean+still: 0 false alarms');
  }, 60_000);

  it('raises nothing on the bundled demo clip with the default config, over two full plays after learning', async () => {
    // Replayed as fast as the monitor takes it, timed by the clip itself: at
    // 5 fps every frame is 200 ms of stream, so 60 s of default learning and
    // the judged plays after it take seconds, not minutes.
    const cam = new Camera(cameraSchema.parse({ id: 'demo', url: DEMO_CLIP, fps: 5, realtime: false, loop: true }), INGEST, silentLogger(), { letterbox: PLAN, flowControl: true });
    cameras.push(cam);
    let t = 0;
    const clock = { now: () => 1_700_000_000_000 + t, monotonic: () => t } as Clock;
    const health = healthSchema.parse({});
    const monitor = new CameraHealthMonitor(cam.id, health, { clock });
    const seen: HealthChange[] = [];
    monitor.on('change', (c) => seen.push(c));
    let frames = 0;
    let judged = 0;
    const demoFrames = 40 * 5;
    const until = (health.learn_seconds / 40 + 2) * demoFrames;
    cam.on('frame', (f) => {
      t = frames++ * 200;
      monitor.offer(f);
      f.input.release();
      if (monitor.snapshot().values?.match !== undefined) judged++;
      if (frames < until) cam.grant();
    });
    cam.start();
    cam.grant();
    await waitFor(`the demo clip played ${until} frames (at ${frames})`, () => frames >= until, 120_000, 100);
    expect(seen, 'health changes on the demo clip').toEqual([]);
    expect(monitor.snapshot()).toMatchObject({ state: 'ok', learning: false });
    expect(judged, 'samples judged for moved after learning').toBeGreaterThan(100);
    console.log(`health demo clip: ${(frames / 5).toFixed(0)} s of stream (learning ${health.learn_seconds} s), 0 false alarms`);
  }, 150_000);
});
