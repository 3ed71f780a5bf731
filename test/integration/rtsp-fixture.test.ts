/**
 * Proves the test fixtures themselves, with real ffmpeg as the client: clips keep
 * their colours and positions, the RTSP server serves and loops them and comes back
 * on the same port, the TCP proxy really stalls, and nothing is left running.
 */
import { spawn } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip, makeGarbageFile, pixelAt, squareAt, type ClipSpec, type SquareSpec } from '../helpers/clips.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp.js';
import { startGarbageServer, startTcpProxy } from '../helpers/tcp-faults.js';

const W = 320;
const H = 240;
const FPS = 10;
const FRAME_BYTES = W * H * 3;
const RED: SquareSpec = { color: 'red', x: 100, y: 60, w: 80, h: 80 };
// 2 px per frame, even positions: its left edge tells which clip frame ffmpeg decoded.
const GREEN: SquareSpec = { color: 'green', x: 10, y: 200, w: 16, h: 16, vx: 20 };
const SPEC: ClipSpec = { width: W, height: H, fps: FPS, seconds: 1, squares: [RED, GREEN] };

interface FfmpegResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs ffmpeg to completion, killing it after `timeoutMs` so a hung client fails the test instead of the run. */
function ffmpeg(args: string[], timeoutMs = 10_000): Promise<FfmpegResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(chunks), stderr });
    });
  });
}

function frames(raw: Buffer): Buffer[] {
  const result: Buffer[] = [];
  for (let at = 0; at + FRAME_BYTES <= raw.length; at += FRAME_BYTES) result.push(raw.subarray(at, at + FRAME_BYTES));
  return result;
}

const isRed = ([r, g, b]: number[]): boolean => r > 200 && g < 60 && b < 60;
const isGreen = ([r, g, b]: number[]): boolean => g > 200 && r < 60 && b < 60;

/** Left edge of the green square on its middle row, or null. */
function greenLeft(frame: Buffer): number | null {
  const y = GREEN.y + GREEN.h / 2;
  for (let x = 0; x < W; x++) if (isGreen(pixelAt(frame, W, x, y))) return x;
  return null;
}

function readRtsp(url: string, count: number, extra: string[] = []): Promise<FfmpegResult> {
  return ffmpeg([...extra, '-rtsp_transport', 'tcp', '-i', url, '-frames:v', String(count), '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
}

describe('test fixtures: clips, RTSP server, TCP faults', () => {
  let clip: string;
  let camera: RtspServer | undefined;

  beforeAll(async () => {
    clip = await makeClip(SPEC);
  });

  afterAll(async () => {
    await camera?.stop();
    await killStrays();
  });

  it('makes a clip once per spec, with exact squares that keep their colour', async () => {
    const before = await stat(clip);
    expect(await makeClip({ ...SPEC })).toBe(clip);
    expect((await stat(clip)).mtimeMs).toBe(before.mtimeMs);

    const decoded = frames((await ffmpeg(['-i', clip, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'])).stdout);
    expect(decoded).toHaveLength(FPS);
    expect(isRed(pixelAt(decoded[0], W, 140, 100))).toBe(true);
    expect(pixelAt(decoded[0], W, 5, 5)).toEqual([64, 64, 64]);
    expect(decoded.map(greenLeft)).toEqual(decoded.map((_, k) => squareAt(GREEN, k, FPS)?.x));
  });

  it('serves the clip over RTSP: ffmpeg decodes red at the square centre', async () => {
    camera = await startRtspServer({ clip, loop: true });
    expect(camera.url).toBe(`rtsp://127.0.0.1:${camera.port}/cam`);

    const { code, stdout, stderr } = await readRtsp(camera.url, 3);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const decoded = frames(stdout);
    expect(decoded).toHaveLength(3);
    for (const frame of decoded) {
      expect(isRed(pixelAt(frame, W, RED.x + RED.w / 2, RED.y + RED.h / 2))).toBe(true);
    }
  }, 15_000);

  it('loops: one client reads past the end of the clip, frames in order', async () => {
    if (camera === undefined) throw new Error('the previous test did not start the server');
    // 25 frames of a 10-frame clip: three passes. -fpsprobesize 0 skips ffmpeg's 2 s frame-rate probe.
    const { code, stdout } = await readRtsp(camera.url, 25, ['-fpsprobesize', '0']);
    expect(code).toBe(0);
    const seen = frames(stdout).map(greenLeft);
    const first = seen[0] === null ? -1 : (seen[0] - (GREEN.x as number)) / 2;
    expect(first).toBeGreaterThanOrEqual(0);
    expect(seen).toEqual(seen.map((_, i) => squareAt(GREEN, (first + i) % FPS, FPS)?.x));
  }, 15_000);

  it('restarts on the same port', async () => {
    if (camera === undefined) throw new Error('the previous test did not start the server');
    const { url, pid } = camera;
    await camera.restart();
    expect(camera.url).toBe(url);
    expect(camera.pid).not.toBe(pid);
    const { code, stdout } = await readRtsp(camera.url, 1, ['-fpsprobesize', '0']);
    expect(code).toBe(0);
    expect(isRed(pixelAt(frames(stdout)[0], W, 140, 100))).toBe(true);
  }, 15_000);

  it('rejects a clip that is not video, quoting the server', async () => {
    const garbage = await makeGarbageFile(join(tmpdir(), `linesight-garbage-${process.pid}.mp4`));
    try {
      await expect(startRtspServer({ clip: garbage })).rejects.toThrow(/exited before READY with code 2.*\n.*H\.264/s);
    } finally {
      await rm(garbage, { force: true });
    }
  });

  it('a paused proxy stops the bytes both ways, and resume lets them through', async () => {
    if (camera === undefined) throw new Error('the previous test did not start the server');
    const proxy = await startTcpProxy(camera.port);
    const client = spawn(
      'ffmpeg',
      ['-nostdin', '-loglevel', 'error', '-fpsprobesize', '0', '-rtsp_transport', 'tcp',
        '-i', `rtsp://127.0.0.1:${proxy.port}/cam`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => client.once('close', resolve));
    let received = 0;
    client.stdout.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    const waitForBytes = async (atLeast: number): Promise<void> => {
      const deadline = Date.now() + 8000;
      while (received < atLeast && Date.now() < deadline) await sleep(50);
      expect(received).toBeGreaterThanOrEqual(atLeast);
    };

    try {
      await waitForBytes(2 * FRAME_BYTES);
      proxy.pause();
      await sleep(300); // frames already inside ffmpeg may still come out
      const stalled = { received, ...proxy.stats() };
      await sleep(1000); // ten frame intervals
      expect({ received, ...proxy.stats() }).toEqual(stalled);
      expect(stalled.connections).toBe(1);

      proxy.resume();
      await waitForBytes(stalled.received + 2 * FRAME_BYTES);
      expect(proxy.stats().toClient).toBeGreaterThan(stalled.toClient);
    } finally {
      client.kill('SIGTERM');
      await exited;
      await proxy.close();
    }
  }, 20_000);

  it('garbage servers make ffmpeg fail instead of hang', async () => {
    const noisy = await startGarbageServer('random');
    const silent = await startGarbageServer('silent');
    try {
      const [fromNoisy, fromSilent] = await Promise.all([
        ffmpeg(['-rtsp_transport', 'tcp', '-i', noisy.url, '-frames:v', '1', '-f', 'null', '-'], 5000),
        // -timeout is in microseconds: give up after 1 s of silence.
        ffmpeg(['-rtsp_transport', 'tcp', '-timeout', '1000000', '-i', silent.url, '-frames:v', '1', '-f', 'null', '-'], 5000),
      ]);
      expect(fromNoisy.code).not.toBe(0);
      expect(fromNoisy.code).not.toBeNull(); // null: killed by the 5 s guard, i.e. it hung
      expect(fromSilent.code).not.toBe(0);
      expect(fromSilent.code).not.toBeNull();
      expect(noisy.connections()).toBeGreaterThan(0);
      expect(silent.connections()).toBeGreaterThan(0);
    } finally {
      await noisy.close();
      await silent.close();
    }
  }, 10_000);

  it('leaves no ffmpeg or rtsp_server.py behind', async () => {
    await camera?.stop();
    expect(camera?.pid).toBeUndefined();
    await expectNoStrays();
  });
});
