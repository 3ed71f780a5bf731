/**
 * (1) The decode-only rate: ffmpeg with exactly the pipeline's arguments
 * (src/ingest/ffmpeg-args.ts, a file camera replayed as fast as possible,
 * letterboxing to the model input), rawvideo read the way a camera reads it (a
 * `FrameChannel` per output, each read landing in a frame-sized buffer) and
 * discarded.
 */
import type { DecoderScheduling } from '../config/schema.js';
import { cameraFfmpegArgs, TETHERED_FFMPEG, tetheredEnv } from '../ingest/ffmpeg-command.js';
import type { LetterboxPlan } from '../ingest/ffmpeg-args.js';
import { isFrameTimeLine } from '../ingest/ffmpeg-stderr.js';
import { FrameAssembler } from '../ingest/frame-assembler.js';
import { closeChannel, openFrameChannel, spawnOnChannels, type ReadSink } from '../ingest/frame-channel.js';
import { LinesightError } from '../errors.js';
import { processCpuMs } from './proc-stats.js';
import { round } from './stats.js';
import type { ClipInfo, DecodeResult } from './report.js';

export interface DecodeOptions {
  clip: ClipInfo;
  /** Camera fps (`-r`); the bench uses the clip's own rate so no frame is skipped. */
  fps: number;
  seconds: number;
  /** ffmpeg letterboxes to the model input and sends full-size views on fd 3, as a camera does. */
  letterbox: LetterboxPlan;
  /** `ingest.decode_threads`. */
  threads: number;
  /** `ingest.decoder_scheduling`. */
  scheduling: DecoderScheduling;
}

/** The ffmpeg arguments a file camera replayed as fast as possible uses (CPU decode). */
export function decodeArgs(clipPath: string, fps: number, letterbox: LetterboxPlan, threads: number): string[] {
  return cameraFfmpegArgs({ url: clipPath, transport: 'tcp', realtime: false, loop: true, fps, hwaccel: 'none' }, letterbox, threads);
}

export async function measureDecode(options: DecodeOptions): Promise<DecodeResult> {
  const { clip, letterbox } = options;
  const frameBytes = letterbox.width * letterbox.height * 3;
  const viewBytes = clip.width * clip.height * 3;
  const args = decodeArgs(clip.path, options.fps, letterbox, options.threads);
  // The window opens at the first byte: process start-up and probing are not decoding.
  let bytes = 0;
  let viewBytesRead = 0;
  let startAt = 0;
  let startCpu = { ffmpeg: 0, self: process.cpuUsage() };
  let opening: () => void = () => undefined;
  const windowOpen = new Promise<void>((resolve) => {
    opening = resolve;
  });
  const out = await openFrameChannel(discard(frameBytes, (n) => {
    if (startAt === 0) {
      startAt = performance.now();
      startCpu = { ffmpeg: processCpuMs(child.pid ?? 0), self: process.cpuUsage() };
      opening();
      return;
    }
    bytes += n;
  }));
  const view = await openFrameChannel(discard(viewBytes, (n) => { viewBytesRead += n; }));
  const child = spawnOnChannels(TETHERED_FFMPEG, args, out, view, tetheredEnv(options.scheduling));
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

  const opened = await Promise.race([windowOpen.then(() => true), exited.then(() => false)]);
  if (!opened) {
    throw new LinesightError('E_CAMERA_STREAM', `Expected ffmpeg to decode ${clip.path} but it exited first: ${stderr.trim().split('\n').filter((l) => !isFrameTimeLine(l)).at(-1) ?? ''}`);
  }
  await new Promise((r) => setTimeout(r, options.seconds * 1000));
  const wallMs = performance.now() - startAt;
  const ffmpegCpu = processCpuMs(child.pid ?? 0) - startCpu.ffmpeg;
  const self = process.cpuUsage(startCpu.self);
  const frames = bytes / frameBytes;
  child.kill('SIGKILL');
  await exited;
  closeChannel(out);
  closeChannel(view);
  const cpuMs = ffmpegCpu + (self.user + self.system) / 1000;
  return {
    threads: options.threads,
    scheduling: options.scheduling,
    args,
    frames: Math.floor(frames),
    seconds: round(wallMs / 1000, 3),
    fps: round(frames / (wallMs / 1000)),
    frameBytes,
    fullSizeFrames: Math.floor(viewBytesRead / viewBytes),
    cpuMsPerFrame: round(cpuMs / Math.max(frames, 1), 3),
    cpuPct: round((cpuMs / wallMs) * 100, 1),
  };
}

/** Reads into one frame-sized buffer, over and over, counting bytes: the camera's read pattern without keeping anything. */
function discard(frameSize: number, count: (n: number) => void): ReadSink {
  const frame = Buffer.allocUnsafe(frameSize);
  const assembler = new FrameAssembler(frameSize, () => undefined, Date.now, () => frame);
  return {
    target: () => assembler.readTarget(),
    received: (n, buf) => {
      count(n);
      assembler.received(n, buf);
    },
  };
}
