/**
 * Per-frame cost of what sits between decode and the session in the pipeline:
 * the sharp letterbox, the tensor fill, and the per-call tensor allocation.
 * Measured on real decoded frames of the clip, one at a time.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { letterboxImage } from '../preprocess/resize.js';
import { writeImageToTensor } from '../preprocess/tensor.js';
import type { ModelInfo } from '../types.js';
import { tensorInputOf } from './session-rate.js';
import { round } from './stats.js';
import type { ClipInfo, PreprocessResult } from './report.js';

const run = promisify(execFile);

async function decodeFrames(clip: ClipInfo, count: number): Promise<Buffer[]> {
  const { stdout } = await run('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', clip.path,
    '-frames:v', String(count), '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1'], { encoding: 'buffer', maxBuffer: 1 << 30 });
  const size = clip.width * clip.height * 3;
  const frames: Buffer[] = [];
  for (let at = 0; at + size <= stdout.length; at += size) frames.push(stdout.subarray(at, at + size));
  return frames;
}

async function timeLoop(seconds: number, step: (i: number) => Promise<void> | void): Promise<{ wallMs: number; cpuMs: number; n: number }> {
  for (let i = 0; i < 3; i++) await step(i); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000 || n < 3) await step(n++);
  const cpu = process.cpuUsage(cpu0);
  return { wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, n };
}

export async function measurePreprocess(clip: ClipInfo, info: ModelInfo, seconds: number): Promise<PreprocessResult> {
  const frames = await decodeFrames(clip, 16);
  const { inputWidth: w, inputHeight: h } = info;
  const { layout } = tensorInputOf(info);
  const boxed = await letterboxImage(frames[0], clip.width, clip.height, w, h);

  const sharpRun = await timeLoop(seconds, async (i) => {
    await letterboxImage(frames[i % frames.length], clip.width, clip.height, w, h);
  });
  const tensor = new Float32Array(3 * w * h);
  const fill = await timeLoop(seconds / 2, () => writeImageToTensor(boxed.rgb, w, h, tensor, 0, layout));
  let sink = 0;
  const alloc = await timeLoop(seconds / 2, () => {
    // What a call cost before sessions kept their input buffers (TensorStore): a fresh tensor, filled with the pad grey.
    const fresh = new Float32Array(3 * w * h).fill(114 / 255);
    sink += fresh[0];
  });
  if (sink < 0) throw new Error('unreachable'); // keeps the allocation observable
  return {
    frames: sharpRun.n,
    sharpLetterboxMs: round(sharpRun.wallMs / sharpRun.n, 3),
    sharpLetterboxCpuMs: round(sharpRun.cpuMs / sharpRun.n, 3),
    tensorFillMs: round(fill.wallMs / fill.n, 3),
    tensorAllocMs: round(alloc.wallMs / alloc.n, 3),
  };
}
