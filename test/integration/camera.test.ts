import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cameraSchema, type IngestConfig } from '../../src/config/schema.js';
import { CoverageLedger } from '../../src/coverage.js';
import { Camera, type CameraOptions } from '../../src/ingest/camera.js';
import type { LetterboxPlan } from '../../src/ingest/ffmpeg-args.js';
import { FfmpegRun, type RunOutcome } from '../../src/ingest/ffmpeg-run.js';
import { computeLetterbox, LETTERBOX_PAD } from '../../src/preprocess/letterbox.js';
import { silentLogger } from '../../src/log.js';
import type { Frame, Picture } from '../../src/types.js';
import { makeClip, squareAt } from '../helpers/clips.js';
import { runLetterboxGraph } from '../helpers/ffmpeg-letterbox.js';
import { captureLogger } from '../helpers/capture-log.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { startRtspServer } from '../helpers/rtsp.js';
import { startGarbageServer, startTcpProxy } from '../helpers/tcp-faults.js';
import { sleep, waitFor } from '../helpers/wait.js';

const INGEST: IngestConfig = { stall_timeout: 20, start_timeout: 20, backoff_initial: 0.2, backoff_max: 1, stable_after: 10, decode_threads: 1, decoder_scheduling: 'batch' };

/** A small model input with a full-size picture for every frame: what the checks below read. */
const PLAN: LetterboxPlan = { width: 160, height: 160, pictureEvery: 1, pad: LETTERBOX_PAD };

const cameras: Camera[] = [];
const servers: Array<{ stop(): Promise<void> }> = [];

/** What a frame says, field by field, when it is emitted: none of it may change afterwards. */
const fieldsOf = (f: Frame) => [f.camera, f.seq, f.captureTs, f.mediaTs, f.width, f.height, f.pictured, f.input, f.input.rgb, f.input.width, f.input.height];

/**
 * A started camera, with its newest frames, a copy of each one's fields as emitted, and a copy of
 * each picture as it came (read during the event: a picture not held may be refilled afterwards).
 */
function camera(url: string, extra: Record<string, unknown> = {}, ingest: Partial<IngestConfig> = {}, options: Partial<CameraOptions> = {}) {
  const cam = new Camera(cameraSchema.parse({ id: `cam${cameras.length + 1}`, url, fps: 5, ...extra }), { ...INGEST, ...ingest }, silentLogger(), { letterbox: PLAN, ...options });
  const frames: Frame[] = [];
  const emitted = new Map<Frame, unknown[]>();
  const pictures = new Map<number, Buffer>();
  cam.on('frame', (f) => {
    frames.push(f);
    emitted.set(f, fieldsOf(f));
    if (frames.length > 50) {
      const old = frames.shift()!;
      pictures.delete(old.seq);
      emitted.delete(old);
    }
  });
  cam.on('picture', (p) => {
    if (frames.some((f) => f.seq === p.seq)) pictures.set(p.seq, Buffer.from(p.rgb));
  });
  cameras.push(cam);
  cam.start();
  /** Every frame kept is frozen and still says what it said when it was emitted. */
  const unchanged = () => frames.every((f) => Object.isFrozen(f) && fieldsOf(f).every((v, i) => Object.is(v, emitted.get(f)![i])));
  return { cam, frames, pictures, unchanged };
}

function pixel(f: Frame, picture: Buffer | undefined, x: number, y: number): number[] {
  if (!picture) throw new Error(`frame ${f.seq} has no full-size picture`);
  const i = (y * f.width + x) * 3;
  return [picture[i], picture[i + 1], picture[i + 2]];
}

afterEach(async () => {
  await Promise.all(cameras.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await expectNoStrays();
});

afterAll(() => killStrays());

describe('camera ingest on real ffmpeg', () => {
  it('reads a file camera into model inputs and exact RGB pictures with camera id, sequence and capture time', async () => {
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 4, squares: [{ color: 'red', x: 100, y: 60, w: 80, h: 80 }] });
    const coverage = new CoverageLedger();
    const { cam, frames, pictures, unchanged } = camera(clip, {}, {}, { coverage });
    await waitFor('3 frames with their pictures', () => frames.length >= 3 && pictures.has(frames[0].seq));
    const [a, b] = frames;
    expect(a).toMatchObject({ camera: cam.id, seq: 1, width: 640, height: 480, pictured: true, input: { width: 160, height: 160 } });
    expect(Object.isFrozen(a)).toBe(true);
    expect(() => Object.assign(a, { seq: 99 })).toThrow(TypeError);
    expect(a.input.rgb.length).toBe(160 * 160 * 3);
    expect(a.input.rgb.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(pictures.get(a.seq)?.length).toBe(640 * 480 * 3);
    expect(b.seq).toBe(a.seq + 1);
    expect(b.captureTs).toBeGreaterThan(a.captureTs);
    const [r, g, bl] = pixel(a, pictures.get(a.seq), 140, 100);
    expect(r).toBeGreaterThan(200);
    expect(g).toBeLessThan(60);
    expect(bl).toBeLessThan(60);
    expect(pixel(a, pictures.get(a.seq), 10, 10).every((v) => Math.abs(v - 64) < 12)).toBe(true);
    // The square's centre (140, 100) at the letterbox's scale (¼) and offset (20 rows of padding).
    const i = ((100 / 4 + 20) * 160 + 140 / 4) * 3;
    expect(a.input.rgb[i]).toBeGreaterThan(200);
    expect(cam.snapshot()).toMatchObject({ state: 'online', width: 640, height: 480, restarts: 0, framesDropped: { inference_error: 0 } });
    // The counts are the ledger's: what the camera received, and what a later stage wrote there.
    coverage.inspected(cam.id, 2);
    const snap = cam.snapshot();
    expect(snap.framesInspected).toBe(2);
    expect(snap.framesReceived).toBe(coverage.counts(cam.id).framesReceived);
    expect(snap.framesReceived).toBeGreaterThanOrEqual(frames.at(-1)!.seq);
    await waitFor('a few frames more', () => frames.length >= 6);
    expect(unchanged(), 'frames emitted are frozen and never change').toBe(true);
  });

  it('with flow control, hands an as-fast-as-possible file over one waiting frame at a time and decodes nothing in vain', async () => {
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 3, squares: [{ color: 'green', x: 20, y: 20, w: 40, h: 40 }] });
    /** A consumer like the scheduler: takes a waiting frame after 15 ms, finishes it 15 ms later. */
    const consume = (flowControl: boolean) => {
      const coverage = new CoverageLedger();
      const cam = new Camera(cameraSchema.parse({ id: `flow${cameras.length}`, url: clip, fps: 10, realtime: false, loop: false }), INGEST, silentLogger(), { flowControl, letterbox: PLAN, coverage });
      cameras.push(cam);
      const seen = { seqs: [] as number[], mostWaiting: 0, waiting: 0, busy: 0, pictures: [] as number[], buffers: new Set<Buffer>() };
      cam.on('frame', (f) => {
        seen.seqs.push(f.seq);
        seen.waiting++;
        seen.mostWaiting = Math.max(seen.mostWaiting, seen.waiting);
        setTimeout(() => {
          seen.waiting--;
          seen.busy++;
          cam.grant(); // took it: room for the next
          setTimeout(() => {
            seen.busy--;
            f.input.release();
            coverage.inspected(cam.id);
          }, 15);
        }, 15);
      });
      cam.on('picture', (p) => {
        seen.pictures.push(p.seq);
        seen.buffers.add(p.rgb);
      });
      cam.start();
      return { cam, seen };
    };
    const idle = (c: ReturnType<typeof consume>) => c.cam.snapshot().state === 'stopped' && c.seen.waiting === 0 && c.seen.busy === 0;
    const paced = consume(true);
    await waitFor('the clip to end', () => idle(paced), 30_000);
    expect(paced.seen.seqs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1)); // every frame, in order, none skipped
    expect(paced.seen.mostWaiting).toBe(1);
    expect(paced.seen.pictures).toEqual(paced.seen.seqs); // each frame's picture, after it
    expect(paced.seen.buffers.size, 'picture buffers, reused once let go').toBeLessThanOrEqual(3);
    expect(paced.cam.snapshot()).toMatchObject({ framesReceived: 30, framesInspected: 30, framesDropped: { superseded: 0, shutdown: 0 } });
    // Without it, ffmpeg runs ahead of the consumer (the scheduler would drop the surplus as superseded).
    const unpaced = consume(false);
    await waitFor('the clip to end', () => idle(unpaced), 30_000);
    expect(unpaced.seen.mostWaiting).toBeGreaterThan(1);
  });

  it('with flow control and a consumer that grants nothing more, sends one frame, holds the next and counts it lost when stopped', async () => {
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 3 });
    // The line's ledger, where a camera of the same id counted 100 frames before (a reload): numbering goes on from there.
    const coverage = new CoverageLedger();
    coverage.received('held', 100);
    const cam = new Camera(cameraSchema.parse({ id: 'held', url: clip, fps: 10, realtime: false, loop: false }), INGEST, silentLogger(), { flowControl: true, letterbox: PLAN, coverage });
    cameras.push(cam);
    const sent: Frame[] = [];
    const pictures: number[] = [];
    cam.on('frame', (f) => sent.push(f));
    cam.on('picture', (p) => pictures.push(p.seq));
    cam.start();
    await waitFor('a frame held behind the one sent', () => cam.snapshot().framesReceived >= 102 && sent.length > 0);
    await sleep(300); // time for a frame that should not come
    expect(sent.map((f) => f.seq)).toEqual([101]);
    expect(pictures).toEqual([101]); // none of the frames not sent
    expect(cam.snapshot().state).toBe('online');
    await cam.stop();
    const { framesReceived, framesDropped } = cam.snapshot();
    expect(framesDropped.shutdown).toBe(1);
    expect(framesReceived).toBe(101 + framesDropped.superseded + framesDropped.shutdown);
  });

  it('reads an RTSP camera (GStreamer RTSP server, TCP)', async () => {
    const clip = await makeClip({ width: 1280, height: 720, fps: 10, seconds: 6, squares: [{ color: 'blue', x: 600, y: 300, w: 100, h: 100 }] });
    const server = await startRtspServer({ clip, loop: true });
    servers.push(server);
    const { cam, frames, pictures } = camera(server.url);
    await waitFor('RTSP frames with pictures', () => frames.length >= 3 && pictures.has(frames[2].seq));
    expect(frames[0]).toMatchObject({ width: 1280, height: 720 });
    expect(pixel(frames[2], pictures.get(frames[2].seq), 650, 350)[2]).toBeGreaterThan(200);
    expect(cam.snapshot().state).toBe('online');
  });

  it('times frames by the stream\'s clock, not by when a busy process read them', async () => {
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 6, squares: [{ color: 'red', x: 100, y: 60, w: 80, h: 80 }] });
    const server = await startRtspServer({ clip, loop: true });
    servers.push(server);
    const steps = (ts: number[]) => ts.slice(1).map((t, i) => t - ts[i]);
    const { frames } = camera(server.url, {}, {}, { letterbox: { ...PLAN, pictureEvery: 2 } });
    await waitFor('RTSP frames', () => frames.length >= 3, 20_000);
    // The event loop stalls for a second: the frames ffmpeg decodes meanwhile wait in their channel.
    const stalled = frames.length;
    const until = Date.now() + 1000;
    while (Date.now() < until) { /* busy */ }
    // One frame more than the nine looked at: the last one's time, if its line came after it, is in by then.
    await waitFor('frames after the stall', () => frames.length >= stalled + 9, 20_000);
    const seen = frames.slice(stalled - 1, stalled + 8);
    const media = steps(seen.map((f) => f.mediaTs!));
    const arrivals = steps(seen.map((f) => f.captureTs));
    expect(Math.min(...arrivals), `arrivals ${arrivals}`).toBeLessThan(60); // read together after the stall…
    for (const step of media) expect(step, `media steps ${media}`).toBeCloseTo(200, 3); // …200 ms apart in the stream
    expect(Math.abs(seen[0].mediaTs! - seen[0].captureMono)).toBeLessThan(2000); // on the monotonic clock's timeline
  });

  it('hands each frame over as ffmpeg decodes it, also the one before a frame the rate limit drops', async () => {
    // 5 fps analysed at 4: one frame in five is dropped. A frame-threaded raw encoder gave out each frame only when the next
    // reached it, so the frame before a dropped one came 200 ms later than the rest; now every frame keeps its place.
    const clip = await makeClip({ width: 320, height: 240, fps: 5, seconds: 8 });
    const { cam, frames } = camera(clip, { fps: 4, realtime: true, loop: false }, {}, { letterbox: { ...PLAN, pictureEvery: 2 } });
    await waitFor('the clip to end', () => cam.snapshot().state === 'stopped' && frames.length > 0, 30_000);
    const media = frames.map((f) => f.mediaTs!);
    const steps = media.slice(1).map((t, i) => Math.round(t - media[i]));
    expect(steps.filter((s) => s === 400).length, `media steps ${steps}`).toBeGreaterThanOrEqual(5); // frames were dropped
    // The frame before each dropped one arrives as far behind the stream as the others (typically: a load spike moves single frames, not these).
    const lags = frames.map((f) => f.captureMono - f.mediaTs!);
    const beforeDrop = new Set(steps.flatMap((s, i) => (s === 400 && i >= 2 ? [i] : [])));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const before = lags.filter((_, i) => beforeDrop.has(i));
    const others = lags.filter((_, i) => i >= 2 && !beforeDrop.has(i));
    expect(before.length).toBeGreaterThanOrEqual(4);
    expect(median(before) - median(others), `arrival behind the stream ${lags.map(Math.round)}`).toBeLessThan(100);
  });

  it('runs its ffmpeg under ingest.decoder_scheduling\'s Linux policy, still tied to linesight', async () => {
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 6 });
    const policyOf = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]); // field 41, policy: 0 SCHED_OTHER, 3 SCHED_BATCH
    };
    for (const [scheduling, policy] of [['batch', 3], ['normal', 0]] as const) {
      const { cam, frames } = camera(clip, { realtime: true }, { decoder_scheduling: scheduling });
      await waitFor('frames', () => frames.length >= 2);
      expect(policyOf(cam.pid!), scheduling).toBe(policy);
      expect(readFileSync(`/proc/${cam.pid!}/cmdline`, 'utf8').split('\0')[0]).toMatch(/ffmpeg$/); // chrt and setpriv exec'd it: the pid is ffmpeg's
      await cam.stop();
    }
    // Where the policy cannot be set (here: no chrt on PATH), ffmpeg still starts, under the normal policy, and the log says why.
    const bin = mkdtempSync(join(tmpdir(), 'linesight-nochrt-'));
    for (const tool of ['ffmpeg', 'setpriv']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    const path = process.env.PATH;
    process.env.PATH = bin; // read by bin/ffmpeg-tethered when it starts
    try {
      const { log, at } = captureLogger();
      const cam = new Camera(cameraSchema.parse({ id: `nochrt${cameras.length}`, url: clip, fps: 5, realtime: true }), INGEST, log, { letterbox: PLAN });
      cameras.push(cam);
      const frames: Frame[] = [];
      cam.on('frame', (f) => frames.push(f));
      cam.start();
      await waitFor('frames without chrt', () => frames.length >= 2);
      expect(policyOf(cam.pid!)).toBe(0);
      expect(at('warn').map((l) => l.msg)).toEqual(['could not set SCHED_BATCH (chrt missing or refused); decoding under the normal policy']);
      await cam.stop();
    } finally {
      process.env.PATH = path;
    }
  });

  it('warns once when ffmpeg reports no frame times, and still delivers every frame', async () => {
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 7 });
    const run = async (ffmpeg?: string) => {
      const { log, at } = captureLogger();
      if (ffmpeg) process.env.LINESIGHT_FFMPEG = ffmpeg; // read by bin/ffmpeg-tethered when it starts ffmpeg
      const cam = new Camera(cameraSchema.parse({ id: `notimes${cameras.length}`, url: clip, fps: 10, realtime: false, loop: false }), INGEST, log, { letterbox: PLAN });
      cameras.push(cam);
      const frames: Frame[] = [];
      cam.on('frame', (f) => frames.push(f));
      cam.start();
      try {
        await waitFor('the clip to end', () => cam.snapshot().state === 'stopped' && frames.length > 0, 20_000);
      } finally {
        delete process.env.LINESIGHT_FFMPEG;
      }
      return { frames, warnings: at('warn').map((l) => l.msg) };
    };
    const without = await run(join(import.meta.dirname, '../fixtures/bin/ffmpeg-without-frame-times'));
    expect(without.frames).toHaveLength(70);
    expect(without.warnings.filter((m) => m.includes('no frame times'))).toEqual([
      'ffmpeg reported no frame times in 50 frames (its showinfo filter printed nothing); this camera\'s frames are timed by their arrival, and a busy CPU can split a defect\'s track',
    ]);
    const normal = await run();
    expect(normal.frames).toHaveLength(70);
    expect(normal.warnings).toEqual([]);
    // Replayed as fast as possible, yet 100 ms apart on the stream's clock.
    const steps = normal.frames.slice(1).map((f, i) => f.mediaTs! - normal.frames[i].mediaTs!);
    for (const step of steps) expect(step).toBeCloseTo(100, 6);
  });

  it('comes back by itself when the RTSP server dies mid-stream and restarts', async () => {
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 6 });
    const server = await startRtspServer({ clip, loop: true });
    servers.push(server);
    const { cam, frames } = camera(server.url, {}, { stall_timeout: 4, start_timeout: 10 });
    await waitFor('online', () => cam.snapshot().state === 'online');
    await server.kill('SIGKILL');
    await waitFor('reconnecting', () => cam.snapshot().state === 'reconnecting', 10_000);
    const before = cam.snapshot().framesReceived;
    await sleep(1500);
    await server.restart();
    await waitFor('online again', () => cam.snapshot().state === 'online' && cam.snapshot().framesReceived > before + 2, 20_000);
    expect(cam.snapshot().restarts).toBeGreaterThanOrEqual(1);
    expect(cam.snapshot().lastError?.code).toMatch(/E_CAMERA_(UNREACHABLE|STREAM|STALL)/);
    expect(frames.at(-1)!.width).toBe(640);
    // The new RTSP session's stream clock starts again, yet the tracker's clock never goes back:
    // the outage shows as the time it took.
    const media = frames.map((f) => f.mediaTs!);
    const steps = media.slice(1).map((t, i) => t - media[i]);
    expect(Math.min(...steps), `media steps ${steps}`).toBeGreaterThan(0);
    expect(Math.max(...steps), `media steps ${steps}`).toBeGreaterThanOrEqual(1500);
  });

  it('keeps a healthy camera at full rate while another refuses connections', async () => {
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 6 });
    const dead = camera('rtsp://127.0.0.1:9/cam'); // discard port: nothing listens
    const good = camera(clip);
    await waitFor('good online', () => good.cam.snapshot().state === 'online');
    const first = good.frames.length - 1;
    // 20 frames at 5 fps while the dead camera restarts at least twice next to it.
    await waitFor('20 more frames and two restarts of the dead camera',
      () => good.frames.length > first + 20 && dead.cam.snapshot().restarts >= 2, 20_000);
    // The rate from the frames' own arrival times: 20 intervals of 200 ms; the dead camera must not slow it down.
    const span = good.frames[first + 20].captureTs - good.frames[first].captureTs;
    expect(span, '20 frame intervals at 5 fps').toBeLessThan(5000);
    const d = dead.cam.snapshot();
    expect(d.state).toBe('reconnecting');
    expect(d.restarts).toBeGreaterThanOrEqual(2);
    expect(d.lastError).toMatchObject({ code: 'E_CAMERA_UNREACHABLE', message: expect.stringContaining('refused the connection') });
    expect(d.framesReceived).toBe(0);
  });

  it('restarts ffmpeg killed with SIGKILL', async () => {
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 6 });
    const { cam } = camera(clip);
    await waitFor('online', () => cam.snapshot().state === 'online');
    const pid = cam.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor('new ffmpeg delivering', () => cam.pid !== undefined && cam.pid !== pid && cam.snapshot().state === 'online', 15_000);
    expect(cam.snapshot().restarts).toBe(1);
  });

  it('restarts a stalled stream after stall_timeout (watchdog)', async () => {
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 6 });
    const server = await startRtspServer({ clip, loop: true });
    servers.push(server);
    const proxy = await startTcpProxy(server.port);
    servers.push({ stop: async () => proxy.close() });
    const { cam } = camera(server.url.replace(`:${server.port}/`, `:${proxy.port}/`), { stall_timeout: 2 });
    await waitFor('online', () => cam.snapshot().state === 'online');
    proxy.pause();
    await waitFor('stall detected', () => cam.snapshot().lastError?.code === 'E_CAMERA_STALL', 10_000);
    expect(cam.snapshot().lastError?.message).toContain('no frame for 2 s (stall_timeout)');
    expect(cam.snapshot().state).not.toBe('online');
    proxy.resume();
    await waitFor('online after the stall', () => cam.snapshot().state === 'online', 20_000);
    expect(cam.snapshot().restarts).toBeGreaterThanOrEqual(1);
  });

  it('reports garbage on the port clearly and keeps retrying without crashing', async () => {
    const garbage = await startGarbageServer();
    servers.push({ stop: async () => garbage.close() });
    const { cam } = camera(garbage.url, {}, { stall_timeout: 3, start_timeout: 3 });
    await waitFor('an error', () => cam.snapshot().restarts >= 2, 20_000);
    const s = cam.snapshot();
    expect(s.state).toBe('reconnecting');
    expect(s.framesReceived).toBe(0);
    expect(s.lastError?.code).toMatch(/E_CAMERA_(STREAM|UNREACHABLE|STALL)/);
    expect(s.lastError?.message.length).toBeGreaterThan(10);
  });

  it('restarts at the new size when the resolution changes mid-stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-resize-'));
    const part = (size: string, name: string) => {
      const file = join(dir, name);
      execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `color=c=0x404040:s=${size}:r=10:d=2`,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '0', '-g', '10', '-pix_fmt', 'yuv420p', '-f', 'mpegts', file]);
      return file;
    };
    const a = part('640x480', 'a.ts');
    const b = part('320x240', 'b.ts');
    const joined = join(dir, 'joined.ts');
    execFileSync('sh', ['-c', `cat '${a}' '${b}' > '${joined}'`]);
    const { cam, frames, pictures } = camera(joined, { loop: false });
    // A live camera continues at its new size after the restart; make the file do the same.
    cam.on('state', (state) => {
      if (state === 'reconnecting' && cam.snapshot().lastError?.code === 'E_CAMERA_RESIZE') copyFileSync(b, joined);
    });
    await waitFor('frames with pictures at the new size', () => frames.some((f) => f.width === 320 && pictures.has(f.seq)), 20_000);
    expect(frames.some((f) => f.width === 640)).toBe(true);
    const resized = frames.filter((f) => f.width === 320);
    expect(resized.every((f) => f.height === 240 && f.input.rgb.length === 160 * 160 * 3)).toBe(true);
    expect(resized.filter((f) => pictures.has(f.seq)).every((f) => pictures.get(f.seq)!.length === 320 * 240 * 3)).toBe(true);
    expect(cam.snapshot().lastError?.code).toBe('E_CAMERA_RESIZE');
  });
});

/** Centre of the pixels of a colour in a packed RGB24 image, or null when there are none. */
function centreOf(rgb: Buffer, width: number, match: (r: number, g: number, b: number) => boolean): { x: number; y: number } | null {
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    if (!match(rgb[i], rgb[i + 1], rgb[i + 2])) continue;
    const p = i / 3;
    sx += p % width;
    sy += Math.floor(p / width);
    n++;
  }
  return n ? { x: sx / n, y: sy / n } : null;
}
const red = (r: number, g: number, b: number) => r > 180 && g < 90 && b < 90;

describe('the letterbox graph: model input on fd 1, full-size pictures on fd 3', () => {
  it('sends every frame as model input and every k-th also at full size, each picture after its own frame; a held picture keeps its pixels', async () => {
    const square = { color: 'red' as const, x: 0, y: 300, w: 160, h: 120, vx: 300 };
    const clip = await makeClip({ width: 1280, height: 720, fps: 10, seconds: 3, squares: [square] });
    const cam = new Camera(cameraSchema.parse({ id: 'lb', url: clip, fps: 10, realtime: false, loop: false }), INGEST, silentLogger(),
      { letterbox: { width: 320, height: 320, pictureEvery: 3, pad: LETTERBOX_PAD } });
    cameras.push(cam);
    const frames: Frame[] = [];
    // Every picture copied as it comes; every other one held too (as the events stage holds recent ones), the rest let go.
    const pictures = new Map<number, Buffer>();
    const held: Picture[] = [];
    const buffers = new Set<Buffer>();
    const late: number[] = [];
    cam.on('frame', (f) => frames.push(f));
    cam.on('picture', (p) => {
      const frame = frames.find((f) => f.seq === p.seq);
      if (!frame?.pictured || frame.captureTs !== p.captureTs) late.push(p.seq); // its frame came first, and says a picture comes
      pictures.set(p.seq, Buffer.from(p.rgb));
      buffers.add(p.rgb);
      if (pictures.size % 2 === 1) held.push(p.hold());
    });
    cam.start();
    await waitFor('the clip to end', () => cam.snapshot().state === 'stopped' && frames.length > 0, 30_000);

    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(frames.map((f) => f.pictured)).toEqual(Array.from({ length: 30 }, (_, i) => i % 3 === 0));
    expect(late).toEqual([]);
    expect([...pictures.keys()]).toEqual(Array.from({ length: 10 }, (_, i) => 3 * i + 1));
    expect(held.map((p) => p.seq)).toEqual([1, 7, 13, 19, 25]);
    // A held picture's buffer was never filled again; those let go were reused for the pictures after them.
    for (const p of held) expect(p.rgb.equals(pictures.get(p.seq)!), `picture ${p.seq} keeps its own pixels`).toBe(true);
    expect(new Set(held.map((p) => p.rgb)).size).toBe(5);
    expect(buffers.size).toBeLessThan(10);
    for (const p of held) expect(p).toMatchObject({ camera: 'lb', width: 1280, height: 720 });
    const first = held[0];
    for (const p of held.splice(0)) p.release();
    expect(() => first.hold()).toThrow(/^Expected a picture still held/); // all its shares are back: its buffer may show another frame
    expect(cam.snapshot()).toMatchObject({ width: 1280, height: 720, framesReceived: 30, framesDropped: { bad_frame: 0 } });
    const lb = computeLetterbox(1280, 720, 320, 320);
    expect(lb).toMatchObject({ scaledWidth: 320, scaledHeight: 180, left: 0, top: 70 });
    for (const [k, f] of frames.entries()) {
      expect(f).toMatchObject({ width: 1280, height: 720, input: { width: 320, height: 320 } });
      const input = f.input.rgb;
      expect(input.length).toBe(320 * 320 * 3);
      // Frame k of the clip, where the square is, at the letterbox's scale and offset.
      const box = squareAt(square, k)!;
      const seen = centreOf(input, 320, red);
      expect(seen, `frame ${k}`).not.toBeNull();
      const right = Math.min(box.x + box.w, 1280);
      expect(Math.abs(seen!.x - ((box.x + right) / 2) * 0.25)).toBeLessThan(1.5);
      expect(Math.abs(seen!.y - ((box.y + box.h / 2) * 0.25 + lb.top))).toBeLessThan(1.5);
      // Grey 114 above and below the picture, exactly; the picture starts at row `top`.
      expect(input.subarray(0, lb.top * 320 * 3).every((v) => v === LETTERBOX_PAD)).toBe(true);
      expect(input.subarray((lb.top + 180) * 320 * 3).every((v) => v === LETTERBOX_PAD)).toBe(true);
      expect(input.subarray(lb.top * 320 * 3, (lb.top + 1) * 320 * 3).some((v) => v !== LETTERBOX_PAD)).toBe(true);
      const picture = pictures.get(f.seq);
      if (!picture) continue;
      // The full-size picture is this frame's own (the square moves 30 px a frame)...
      const full = centreOf(picture, 1280, red)!;
      expect(Math.abs(full.x - (box.x + right) / 2)).toBeLessThan(1.5);
      expect(Math.abs(full.y - (box.y + box.h / 2))).toBeLessThan(1.5);
    }
  });

  it('keeps as many frames of a faster stream as -r with -fps_mode vfr does', async () => {
    for (const [clipFps, fps] of [[25, 10], [15, 5], [10, 4]] as const) {
      const clip = await makeClip({ width: 320, height: 240, fps: clipFps, seconds: 4 });
      const { cam, frames } = camera(clip, { fps, realtime: false, loop: false });
      await waitFor('the clip to end', () => cam.snapshot().state === 'stopped' && frames.length > 0, 20_000);
      // ffmpeg's -r may keep one more at the end (it rounds the last timestamp onto its grid).
      const n = cam.snapshot().framesReceived;
      expect(Math.abs(n - 4 * fps), `${clipFps} fps letterboxed at ${fps}: ${n}`).toBeLessThanOrEqual(1);
    }
  });

  it('keeps exactly the frames -r with -fps_mode vfr keeps, also when the stream starts off the output grid (as RTSP does)', async () => {
    // testsrc2 draws a different picture every frame; -itsoffset moves the first timestamp off the 1/5 s grid,
    // as an RTSP stream's first PTS is (8/15 s on the demo clip: counting ticks from it kept another third of the frames).
    for (const offset of ['0', '0.5333', '0.1']) {
      const source = ['-itsoffset', offset, '-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=15:duration=4'];
      const { views } = await runLetterboxGraph(source, 5, { width: 64, height: 64, pictureEvery: 1, pad: LETTERBOX_PAD });
      const plain = await new Promise<Buffer>((resolve, reject) => {
        const out: Buffer[] = [];
        const ff = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', ...source, '-r', '5', '-fps_mode', 'vfr', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1']);
        ff.stdout.on('data', (c: Buffer) => out.push(c));
        ff.once('error', reject);
        ff.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`ffmpeg exited ${code}`))));
      });
      const frame = 96 * 64 * 3;
      const n = Math.min(views.length, plain.length) / frame;
      expect(n, `offset ${offset}`).toBeGreaterThanOrEqual(19);
      for (let k = 0; k < n; k++) {
        expect(views.subarray(k * frame, (k + 1) * frame).equals(plain.subarray(k * frame, (k + 1) * frame)), `offset ${offset} s, kept frame ${k}`).toBe(true);
      }
    }
  });

  it('letterboxes any source size exactly as computeLetterbox says, so boxes map back to source pixels', async () => {
    const cases: Array<[number, number, number, number]> = [
      [1920, 1080, 320, 320], [1280, 720, 640, 640], [640, 480, 320, 320], [720, 1280, 320, 320],
      [1000, 1000, 320, 320], [3840, 2160, 640, 384], [1278, 718, 320, 320], [641, 479, 320, 320],
    ];
    for (const [w, h, W, H] of cases) {
      const { inputs, stderr } = await runLetterboxGraph(['-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=5:duration=0.2`], 5,
        { width: W, height: H, pictureEvery: 1, pad: LETTERBOX_PAD });
      const want = computeLetterbox(w, h, W, H);
      const pad = /Parsed_pad_\d+ @ [^\]]+\] (?:\[verbose\] )?w:(\d+) h:(\d+) -> w:(\d+) h:(\d+) x:(\d+) y:(\d+)/.exec(stderr);
      expect(pad, `${w}×${h} → ${W}×${H}: ${stderr.slice(-300)}`).not.toBeNull();
      expect(pad!.slice(1).map(Number), `${w}×${h} → ${W}×${H}`).toEqual([want.scaledWidth, want.scaledHeight, W, H, want.left, want.top]);
      expect(inputs.length).toBe(W * H * 3);
    }
  });
});

describe('hardware decode on a Jetson: the decoder is named by the stream\'s codec', () => {
  /** A clip in a container whose name says nothing of its codec. */
  const clipIn = (codec: 'libx264' | 'libx265') => {
    const file = join(mkdtempSync(join(tmpdir(), 'linesight-codec-')), 'line.mkv');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=5', '-t', '2',
      '-pix_fmt', 'yuv420p', '-c:v', codec, '-y', file], { stdio: 'pipe' }); // x265 logs to stderr whatever -loglevel says
    return file;
  };
  /** The decoder the camera's ffmpeg was started with: this ffmpeg has no NVDEC, and says which one it lacks. */
  const decoderTried = async (url: string, codec?: string) => {
    const { log, at } = captureLogger();
    const cam = new Camera(cameraSchema.parse({ id: `jetson${cameras.length}`, url, fps: 5, hwaccel: 'jetson', ...(codec ? { codec } : {}) }), INGEST, log, { letterbox: PLAN });
    cameras.push(cam);
    cam.start();
    const error = await waitFor('the decoder refused', () => cam.snapshot().lastError, 20_000);
    await cam.stop();
    return { message: error.message, probed: at('info').filter((l) => l.msg.includes('stream\'s codec')).map((l) => l.codec) };
  };

  it('asks the stream before starting ffmpeg when neither the config nor the URL says', async () => {
    const hevc = await decoderTried(clipIn('libx265'));
    expect(hevc.message).toContain("'hevc_nvv4l2dec'");
    expect(hevc.probed).toEqual(['hevc']);
    const h264 = await decoderTried(clipIn('libx264'));
    expect(h264.message).toContain("'h264_nvv4l2dec'");
    expect(h264.probed).toEqual(['h264']);
  });

  it('takes a configured codec as it is, without asking', async () => {
    const told = await decoderTried(clipIn('libx265'), 'h264');
    expect(told.message).toContain("'h264_nvv4l2dec'");
    expect(told.probed).toEqual([]);
  });
});

describe('FfmpegRun', () => {
  /** An "ffmpeg" that ignores SIGTERM and never writes (bin/ffmpeg-tethered runs it through LINESIGHT_FFMPEG). */
  const deaf = () => {
    const file = join(mkdtempSync(join(tmpdir(), 'linesight-deaf-')), 'ffmpeg');
    writeFileSync(file, "#!/bin/sh\ntrap '' TERM\nexec sleep 30\n"); // an ignored signal stays ignored across exec
    chmodSync(file, 0o755);
    return file;
  };
  const sink = () => ({ target: () => null, received: () => undefined });

  it('stops ffmpeg with SIGTERM, then SIGKILL when it does not exit, and reports nothing after stop', async () => {
    const exits: RunOutcome[] = [];
    const run = new FfmpegRun({ decodedSize: () => undefined, frameTime: () => undefined, notice: () => undefined, exit: (o) => exits.push(o) }, silentLogger());
    await run.start([sink(), sink()], async () => [], { LINESIGHT_FFMPEG: deaf() });
    const pid = await waitFor('ffmpeg started', () => run.pid);
    await waitFor('the stand-in running', () => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'));
    const began = Date.now();
    await run.stop();
    expect(Date.now() - began, 'the grace period before SIGKILL').toBeGreaterThanOrEqual(1900);
    expect(() => process.kill(pid, 0)).toThrow(); // gone
    expect(exits).toEqual([]);
  });

  it('reports the cause of an exit in ffmpeg\'s own words', async () => {
    const exits: RunOutcome[] = [];
    const run = new FfmpegRun({ decodedSize: () => undefined, frameTime: () => undefined, notice: () => undefined, exit: (o) => exits.push(o) }, silentLogger());
    await run.start([sink(), sink()], async () => ['-hide_banner', '-i', '/nonexistent/clip.mp4', '-f', 'null', '-'], {});
    await waitFor('the exit', () => exits.length === 1);
    expect(exits[0]).toMatchObject({ clean: false, failure: { code: 'E_CAMERA_UNREACHABLE', message: expect.stringContaining('the video file does not exist') } });
    await run.stop();
  });

  it('reports a command line that cannot be built as the run\'s exit', async () => {
    const exits: RunOutcome[] = [];
    const run = new FfmpegRun({ decodedSize: () => undefined, frameTime: () => undefined, notice: () => undefined, exit: (o) => exits.push(o) }, silentLogger());
    await run.start([sink()], async () => {
      throw new Error('no answer');
    }, {});
    expect(exits).toEqual([{ clean: false, failure: { code: 'E_CAMERA_STREAM', message: "could not build ffmpeg's command line (no answer)" } }]);
    expect(run.pid).toBeUndefined();
  });
});
