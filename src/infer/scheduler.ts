import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { DropReason, Frame, InspectedFrame } from '../types.js';
import type { CoverageLedger } from '../coverage.js';
import type { Detector } from './detector.js';
import type { DetectorSource } from './model-slot.js';

export interface SchedulerOptions {
  /** Most frames in one session call. */
  batchMax: number;
  /** Longest wait for more cameras' frames before a partial batch runs. */
  batchWaitMs: number;
  /**
   * Sessions that run calls side by side (default 1): batches in the detector at
   * once, one per session. With more than one, a session that frees up takes
   * what is waiting at once instead of waiting for a full batch; results are
   * emitted in the order the batches were taken either way.
   */
  sessions?: number;
  /** Time for the batch wait and the latencies. Default: the system's. */
  clock?: Clock;
}

interface Slot {
  frame: Frame;
}

export interface SchedulerEvents {
  /** A frame's detections (its model input already released). */
  inspected: [InspectedFrame];
  /** A camera's frame left its slot for the detector: the camera may send the next (a flow-control credit). */
  taken: [string];
}

/**
 * Between ingest and the model: one slot per camera holding only its freshest
 * frame (an older waiting frame is dropped and counted as `superseded`), and a
 * loop that gathers frames of different cameras into one batched session call,
 * as DeepStream's stream muxer does. One batch per session is in the detector
 * at once (ffmpeg has letterboxed the frames, so there is nothing to prepare
 * while a call runs); with several sessions, results are emitted in the order
 * the batches were taken. Memory is bounded by the number of cameras and
 * latency stays flat when the model is slower than the cameras.
 */
export class InferenceScheduler extends EventEmitter<SchedulerEvents> {
  private readonly slots = new Map<string, Slot>();
  private readonly lastOffer = new Map<string, number>();
  private wake: (() => void) | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly busy = new Set<Promise<void>>();
  private lastError = '';
  /** Settles when the last batch taken has emitted its results: the next one emits after it. */
  private emitted: Promise<void> = Promise.resolve();
  readonly stats = { batches: 0, frames: 0, lastInferMs: 0, lastBatchSize: 0 };
  private readonly clock: Clock;

  private readonly source: DetectorSource;

  /**
   * Counts what becomes of every frame offered (inspected, or dropped and why) in the line's ledger.
   * `detector`: a fixed detector, or a source whose detector may change between batches (`ModelSlot`).
   */
  constructor(detector: Detector | DetectorSource, private readonly options: SchedulerOptions, private readonly coverage: CoverageLedger, private readonly log: Logger) {
    super();
    this.clock = options.clock ?? systemClock;
    this.source = 'current' in detector ? detector : fixedSource(detector);
  }

  /** Hands over a camera's newest frame; returns false when it replaced (dropped) an older one. */
  offer(frame: Frame): boolean {
    const previous = this.slots.get(frame.camera);
    this.slots.set(frame.camera, { frame });
    this.lastOffer.set(frame.camera, this.clock.monotonic());
    if (previous) this.drop(previous.frame, 'superseded');
    this.signal();
    return previous === undefined;
  }

  /** Forgets a camera's waiting frame (camera removed or stopped). */
  forget(camera: string): void {
    const slot = this.slots.get(camera);
    if (slot) this.drop(slot.frame, 'shutdown');
    this.slots.delete(camera);
    this.lastOffer.delete(camera);
  }

  private drop(frame: Frame, reason: DropReason): void {
    this.coverage.dropped(frame.camera, reason);
    frame.input.release();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops taking frames; the batch in flight finishes and is emitted. */
  async stop(): Promise<void> {
    this.running = false;
    this.signal();
    await this.loop;
    await Promise.all(this.busy);
    for (const camera of [...this.slots.keys()]) this.forget(camera);
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private waitForFrames(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? null : this.clock.setTimeout(() => {
        this.wake = null;
        resolve();
      }, timeoutMs);
      this.wake = () => {
        if (timer) this.clock.clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Cameras that offered a frame recently: the batch need not wait for the others. */
  private activeCameras(now: number): number {
    let n = 0;
    for (const at of this.lastOffer.values()) if (now - at < 2000) n++;
    return n;
  }

  private async run(): Promise<void> {
    const sessions = this.options.sessions ?? 1;
    while (this.running) {
      if (this.slots.size === 0) {
        await this.waitForFrames();
        continue;
      }
      // With a session free while another works, frames keep coming: take what is there.
      if (this.busy.size === 0) await this.gather(Math.min(this.options.batchMax, Math.max(1, Math.ceil(this.activeCameras(this.clock.monotonic()) / sessions))));
      const batch = this.take(this.options.batchMax);
      if (batch.length === 0) continue;
      const inspecting = this.inspect(batch).finally(() => this.busy.delete(inspecting));
      this.busy.add(inspecting);
      if (this.busy.size >= sessions) await Promise.race(this.busy);
    }
  }

  /** Waits up to `batchWaitMs` for `want` cameras' frames. */
  private async gather(want: number): Promise<void> {
    const deadline = this.clock.monotonic() + this.options.batchWaitMs;
    while (this.running && this.slots.size < want && this.clock.monotonic() < deadline) {
      await this.waitForFrames(Math.max(0, deadline - this.clock.monotonic()));
    }
  }

  /** The oldest waiting frames first, so no camera starves when there are more cameras than batch places. */
  private take(max: number): Slot[] {
    const all = [...this.slots.values()].sort((a, b) => a.frame.captureMono - b.frame.captureMono).slice(0, max);
    for (const s of all) {
      this.slots.delete(s.frame.camera);
      this.emit('taken', s.frame.camera);
    }
    return all;
  }

  private async inspect(batch: Slot[]): Promise<void> {
    const previous = this.emitted;
    let turnDone = () => {};
    this.emitted = new Promise((resolve) => (turnDone = resolve));
    try {
      await this.inspectInTurn(batch, previous);
    } finally {
      turnDone();
    }
  }

  /** Runs the batch, then waits for the batch taken before it to emit, so each camera's results stay in order. */
  private async inspectInTurn(batch: Slot[], previous: Promise<void>): Promise<void> {
    const started = this.clock.monotonic();
    // Taken and called in one tick: a model swapped after this point gets the next batch, this one finishes here.
    const detector = this.source.current();
    const model = this.source.refOf(detector);
    let results;
    try {
      results = await detector.detect(batch.map((s) => s.frame));
    } catch (err) {
      for (const s of batch) s.frame.input.release();
      await previous;
      const message = errorMessage(err);
      if (message !== this.lastError) {
        this.log.error({ stage: 'infer', code: (err as { code?: string }).code, err: message, cameras: batch.map((s) => s.frame.camera) },
          'inference failed for a batch; its frames are dropped (inference_error) and the next batch is tried');
        this.lastError = message;
      }
      for (const s of batch) this.coverage.dropped(s.frame.camera, 'inference_error');
      return;
    }
    const inferredAt = this.clock.now();
    const done = this.clock.monotonic();
    const inferMs = done - started;
    for (const s of batch) s.frame.input.release();
    await previous;
    this.lastError = '';
    this.stats.batches++;
    this.stats.frames += batch.length;
    this.stats.lastInferMs = inferMs;
    this.stats.lastBatchSize = batch.length;
    batch.forEach((s, i) => {
      this.coverage.inspected(s.frame.camera);
      const { input: _input, ...meta } = s.frame;
      const latencyMs = Math.max(0, done - s.frame.captureMono);
      const near = results[i].near;
      this.emit('inspected', { frame: meta, detections: results[i], inferredAt, latencyMs, inferMs, batchSize: batch.length, model, ...(near ? { near } : {}) });
    });
  }
}

function fixedSource(detector: Detector): DetectorSource {
  const ref = { name: detector.info.name, version: detector.info.version };
  return { current: () => detector, refOf: () => ref };
}
