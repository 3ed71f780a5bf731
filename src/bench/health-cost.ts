/**
 * (1b) the camera health checks alone: what one sample costs (grey copy of the
 * model input, the measures, the match against the learned reference), timed
 * on real model inputs of the bench clip, and the share of one core that makes
 * per camera at the default sample rate.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Clock } from '../clock.js';
import { healthSchema } from '../config/schema.js';
import { LinesightError, errorMessage } from '../errors.js';
import { CameraHealthMonitor } from '../health/monitor.js';
import { LETTERBOX_PAD } from '../preprocess/letterbox.js';
import type { Frame } from '../types.js';
import type { ClipInfo, HealthCostResult } from './report.js';
import { round } from './stats.js';

const run = promisify(execFile);

/** Distinct frames of the clip the samples cycle through (the clip's first seconds). */
const FRAMES = 24;
/** Samples timed after learning: enough for a stable mean, well under a second. */
const SAMPLES = 300;
/** Samples offered at most for learning (2 s at 2 per second needs 4 that show something). */
const LEARN_LIMIT = 100;

/** The clip's first frames letterboxed to the model input by ffmpeg, as a camera's model inputs. */
async function modelInputs(clip: ClipInfo, width: number, height: number): Promise<Buffer[]> {
  const scale = `min(${width}/iw\\,${height}/ih)`;
  const grey = LETTERBOX_PAD.toString(16).padStart(2, '0').repeat(3);
  const vf = `scale=w='round(iw*${scale})':h='round(ih*${scale})':flags=bilinear,format=rgb24,pad=${width}:${height}:'round((ow-iw)/2-0.1)':'round((oh-ih)/2-0.1)':color=0x${grey}`;
  let stdout: Buffer;
  try {
    ({ stdout } = await run('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', clip.path, '-vf', vf, '-frames:v', String(FRAMES), '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
      { encoding: 'buffer', maxBuffer: FRAMES * width * height * 3 + 1024 }));
  } catch (err) {
    throw new LinesightError('E_ARGUMENT', `Expected ffmpeg to decode ${FRAMES} frames of ${clip.path} for the health cost but it failed: ${errorMessage(err)}`);
  }
  const size = width * height * 3;
  const n = Math.floor(stdout.length / size);
  if (n === 0) throw new LinesightError('E_ARGUMENT', `Expected at least one ${width}×${height} frame from ${clip.path} but ffmpeg gave ${stdout.length} bytes`);
  return Array.from({ length: n }, (_, i) => stdout.subarray(i * size, (i + 1) * size));
}

/**
 * Times `SAMPLES` health samples of real model inputs. A hand-driven clock
 * makes every offered frame a sample and ends learning after a few, so the
 * figure is the judged path (with the reference match), the dearer one.
 */
export async function measureHealthCost(clip: ClipInfo, width: number, height: number): Promise<HealthCostResult> {
  const inputs = await modelInputs(clip, width, height);
  const defaults = healthSchema.parse({});
  const cfg = healthSchema.parse({ learn_seconds: 2 });
  const period = 1000 / cfg.sample_fps;
  let t = 0;
  const clock = { now: () => t, monotonic: () => t } as Clock;
  const monitor = new CameraHealthMonitor('bench', cfg, { clock });
  const frameOf = (k: number): Frame => ({
    camera: 'bench', seq: k, captureTs: t, captureMono: t, width: clip.width, height: clip.height, pictured: false,
    input: { rgb: inputs[k % inputs.length], width, height, release: () => undefined },
  });
  let k = 0;
  const offer = () => {
    t += period;
    monitor.offer(frameOf(k++));
  };
  // A clip that shows nothing (uniform, dark) teaches no baseline: time the unjudged path then, and say so.
  for (let i = 0; i < LEARN_LIMIT && monitor.snapshot().learning; i++) offer();
  const judged = !monitor.snapshot().learning;
  const start = process.hrtime.bigint();
  for (let i = 0; i < SAMPLES; i++) offer();
  const msPerSample = Number(process.hrtime.bigint() - start) / 1e6 / SAMPLES;
  monitor.close();
  return {
    samples: SAMPLES, judged, inputWidth: width, inputHeight: height, msPerSample: round(msPerSample, 3),
    sampleFps: defaults.sample_fps, corePctPerCamera: round((msPerSample * defaults.sample_fps) / 10, 3),
  };
}
