/**
 * Experiment (`--sweep`): the inference path of the pipeline (ffmpeg → frames →
 * InferenceScheduler → Detector) with the two ingest changes the bench
 * recommends, each switchable, so their effect is measured rather than guessed:
 *
 * - `backpressure`: a file camera stops reading ffmpeg's stdout while its
 *   previous frame waits for the model, so ffmpeg blocks on the pipe instead of
 *   decoding frames that would be dropped as `superseded`;
 * - `scale`: ffmpeg scales and pads to the model input (bilinear, grey 114) so
 *   the pipe carries 320×320 instead of full-size frames and sharp only copies;
 * - `worker`: the session runs in a worker thread, off the event loop.
 *
 * No tracker, store or MQTT (they cost little per frame; the full runs include
 * them), and with `scale` the boxes are in model pixels: a measurement, not a product path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { TETHERED_FFMPEG } from '../ingest/camera.js';
import { FrameAssembler } from '../ingest/frame-assembler.js';
import type { Detector } from '../infer/detector.js';
import { InferenceScheduler, type FrameAccounting } from '../infer/scheduler.js';
import type { Logger } from '../log.js';
import type { DropReason, Frame } from '../types.js';
import { decodeArgs } from './decode-rate.js';
import { ProcessSampler } from './proc-stats.js';
import { percentiles, round } from './stats.js';
import type { Bound, ClipInfo, LeanResult } from './report.js';

export interface LeanSpec {
  clip: ClipInfo;
  cameras: number;
  seconds: number;
  warmupSeconds: number;
  detector: Detector;
  batchMax: number;
  backpressure: boolean;
  scale: boolean;
  /** The detector runs its session in a worker thread (`model.thread: worker`). */
  worker: boolean;
  bound: Bound;
  log: Logger;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A file camera feeding the scheduler. With backpressure it keeps at most one
 * frame in the scheduler and one decoded frame ready behind it; only then does it
 * stop reading, so ffmpeg blocks on the pipe instead of decoding frames nobody
 * will inspect, while the next frame is still decoded ahead of the model.
 */
class LeanCamera implements FrameAccounting {
  inspected = 0;
  dropped = 0;
  private offered = false;
  private held: Frame | null = null;
  readonly child: ChildProcess;

  constructor(readonly id: string, args: string[], frameBytes: number, width: number, height: number,
    private readonly scheduler: InferenceScheduler, private readonly backpressure: boolean) {
    this.child = spawn(TETHERED_FFMPEG, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let seq = 0;
    const assembler = new FrameAssembler(frameBytes, (rgb, captureTs) => this.onFrame({ camera: id, seq: ++seq, captureTs, width, height, rgb }));
    this.child.stdout?.on('data', (chunk: Buffer) => assembler.push(chunk));
  }

  private onFrame(frame: Frame): void {
    if (!this.backpressure || !this.offered) {
      this.offered = true;
      this.scheduler.offer(frame, this);
      return;
    }
    if (this.held) this.dropped += 1; // a second frame finished in the same chunk: superseded
    this.held = frame;
    this.child.stdout?.pause();
  }

  countInspected(n = 1): void {
    this.inspected += n;
    this.release();
  }

  countDropped(reason: DropReason, n = 1): void {
    this.dropped += n;
    if (reason === 'bad_frame') this.release(); // the model failed on it: it is out of the scheduler all the same
  }

  /** The scheduler is done with this camera's frame: hand over the held one, read on. */
  private release(): void {
    this.offered = false;
    if (!this.held) return;
    const next = this.held;
    this.held = null;
    this.offered = true;
    this.scheduler.offer(next, this);
    this.child.stdout?.resume();
  }

  stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.kill('SIGKILL');
    return exited;
  }
}

export async function runLean(spec: LeanSpec): Promise<LeanResult> {
  const { clip, detector } = spec;
  const size = spec.scale ? { width: detector.info.inputWidth, height: detector.info.inputHeight } : { width: clip.width, height: clip.height };
  const args = decodeArgs(clip.path, clip.fps, spec.scale ? size : undefined, clip);
  const scheduler = new InferenceScheduler(detector, { batchMax: spec.batchMax, batchWaitMs: 5 }, spec.log);
  let windowStart = Infinity;
  const latencies: number[] = [];
  scheduler.on('inspected', (r) => {
    if (r.inferredAt >= windowStart) latencies.push(r.inferredAt - r.frame.captureTs);
  });
  scheduler.start();
  const cams = Array.from({ length: spec.cameras }, (_, i) =>
    new LeanCamera(`cam${i + 1}`, args, size.width * size.height * 3, size.width, size.height, scheduler, spec.backpressure));
  try {
    const deadline = Date.now() + 30_000;
    while (!cams.every((c) => c.inspected > 0) && Date.now() < deadline) await sleep(50);
    await sleep(spec.warmupSeconds * 1000);
    const before = cams.reduce((a, c) => a + c.inspected, 0);
    const droppedBefore = cams.reduce((a, c) => a + c.dropped, 0);
    const sampler = new ProcessSampler(() => new Set());
    windowStart = Date.now();
    await sleep(spec.seconds * 1000);
    const inspected = cams.reduce((a, c) => a + c.inspected, 0) - before;
    const usage = sampler.finish();
    const fps = inspected / (usage.wallMs / 1000);
    const ours = usage.selfCpuMs + usage.childrenCpuMs;
    return {
      label: `lean-${spec.cameras}${spec.backpressure ? '-backpressure' : ''}${spec.scale ? '-ffmpeg-scale' : ''}${spec.worker ? '-worker' : ''}`,
      cameras: spec.cameras,
      backpressure: spec.backpressure,
      ffmpegScale: spec.scale,
      workerInference: spec.worker,
      fps: round(fps),
      bound: spec.bound.fps,
      ratio: round(fps / spec.bound.fps, 3),
      superseded: cams.reduce((a, c) => a + c.dropped, 0) - droppedBefore,
      inferLatencyMs: percentiles(latencies),
      cpuPct: round((ours / usage.wallMs) * 100, 1),
      cpuSelfPct: round((usage.selfCpuMs / usage.wallMs) * 100, 1),
      otherBusyPct: round((Math.max(0, usage.machineBusyMs - ours) / usage.wallMs) * 100, 1),
    };
  } finally {
    await Promise.all(cams.map((c) => c.stop()));
    await scheduler.stop();
  }
}
