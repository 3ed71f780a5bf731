/**
 * (1) The decode-only rate: ffmpeg with exactly the pipeline's arguments
 * (src/ingest/ffmpeg-args.ts, a file camera replayed as fast as possible),
 * rawvideo read from the pipe and discarded.
 */
import { spawn } from 'node:child_process';
import { computeLetterbox, LETTERBOX_PAD } from '../preprocess/letterbox.js';
import { cameraFfmpegArgs, TETHERED_FFMPEG } from '../ingest/camera.js';
import { LinesightError } from '../errors.js';
import { processCpuMs } from './proc-stats.js';
import { round } from './stats.js';
import type { ClipInfo, DecodeResult } from './report.js';

export interface DecodeOptions {
  clip: ClipInfo;
  /** Camera fps (`-r`); the bench uses the clip's own rate so no frame is skipped. */
  fps: number;
  seconds: number;
  /** Experiment: let ffmpeg scale and pad to the model input (what sharp does in the pipeline). */
  letterboxTo?: { width: number; height: number };
}

/** The ffmpeg arguments a file camera uses (CPU decode), with an optional scale+pad filter before the pixel format. */
export function decodeArgs(clipPath: string, fps: number, letterboxTo?: { width: number; height: number }, clip?: ClipInfo): string[] {
  const { input, output: out } = cameraFfmpegArgs({ url: clipPath, transport: 'tcp', realtime: false, loop: true, fps, hwaccel: 'none' });
  if (letterboxTo && clip) {
    const lb = computeLetterbox(clip.width, clip.height, letterboxTo.width, letterboxTo.height);
    const pad = LETTERBOX_PAD.toString(16).padStart(2, '0');
    const vf = `scale=${lb.scaledWidth}:${lb.scaledHeight}:flags=bilinear,pad=${letterboxTo.width}:${letterboxTo.height}:${lb.left}:${lb.top}:color=0x${pad}${pad}${pad}`;
    const at = out.indexOf('-pix_fmt');
    out.splice(at, 0, '-vf', vf);
  }
  return [...input, '-i', clipPath, ...out, 'pipe:1'];
}

export async function measureDecode(options: DecodeOptions): Promise<DecodeResult> {
  const { clip } = options;
  const size = options.letterboxTo ?? { width: clip.width, height: clip.height };
  const frameBytes = size.width * size.height * 3;
  const args = decodeArgs(clip.path, options.fps, options.letterboxTo, clip);
  const child = spawn(TETHERED_FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

  // The window opens at the first byte: process start-up and probing are not decoding.
  let bytes = 0;
  let startAt = 0;
  let startCpu = { ffmpeg: 0, self: process.cpuUsage() };
  const windowOpen = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (startAt === 0) {
        startAt = performance.now();
        startCpu = { ffmpeg: processCpuMs(child.pid ?? 0), self: process.cpuUsage() };
        resolve();
        return;
      }
      bytes += chunk.length;
    });
  });
  const opened = await Promise.race([windowOpen.then(() => true), exited.then(() => false)]);
  if (!opened) {
    throw new LinesightError('E_CAMERA_STREAM', `Expected ffmpeg to decode ${clip.path} but it exited first: ${stderr.trim().split('\n').at(-1) ?? ''}`);
  }
  await new Promise((r) => setTimeout(r, options.seconds * 1000));
  const wallMs = performance.now() - startAt;
  const ffmpegCpu = processCpuMs(child.pid ?? 0) - startCpu.ffmpeg;
  const self = process.cpuUsage(startCpu.self);
  const frames = bytes / frameBytes;
  child.kill('SIGKILL');
  await exited;
  const cpuMs = ffmpegCpu + (self.user + self.system) / 1000;
  return {
    variant: options.letterboxTo ? 'ffmpeg-letterbox' : 'pipeline',
    args,
    frames: Math.floor(frames),
    seconds: round(wallMs / 1000, 3),
    fps: round(frames / (wallMs / 1000)),
    frameBytes,
    cpuMsPerFrame: round(cpuMs / Math.max(frames, 1), 3),
    cpuPct: round((cpuMs / wallMs) * 100, 1),
  };
}
