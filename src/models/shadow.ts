import { systemClock, type Clock, type Timer } from '../clock.js';
import type { CameraConfig, Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { CameraTrackers } from '../events/camera-trackers.js';
import { underRules, type DetectionRules } from '../events/rules.js';
import type { Detector } from '../infer/detector.js';
import type { Logger } from '../log.js';
import type { DefectEvent, Frame, InspectedFrame } from '../types.js';
import type { ModelEntry } from './registry.js';

/** How often the run's frame counts are written to shadow_runs. */
const FLUSH_MS = 10_000;

/** Where a shadow run's results go (the registry's tables). */
export interface ShadowSink {
  event(event: DefectEvent, modelHash: string, activeHash: string): void;
  /** The counts of one camera's run against one active model, from `startedAt` on. */
  run(row: { modelHash: string; activeHash: string; camera: string; startedAt: number; endedAt: number; frames: number; skipped: number }): void;
}

interface CameraRun {
  activeHash: string;
  startedAt: number;
  frames: number;
  skipped: number;
  /** Frames offered, for the sampling. */
  offered: number;
}

/** Whether the n-th offered frame (0-based) is in a sampled `share`: evenly spread, every frame at 1, every fourth at 0.25. */
export function sampled(n: number, share: number): boolean {
  return Math.floor((n + 1) * share) > Math.floor(n * share);
}

export interface ShadowOptions {
  detector: Detector;
  model: Pick<ModelEntry, 'hash' | 'name' | 'version'>;
  /** The active model's hash now (it may be swapped during the run). */
  activeHash(): string;
  config: Config;
  /** Share of each camera's frames the candidate inspects. */
  share: number;
  sink: ShadowSink;
  /** The thresholds and regions the active model's frames are cut at now (recipes): the candidate is judged by the same. */
  rules?(): DetectionRules | undefined;
  log: Logger;
  clock?: Clock;
}

/**
 * A candidate model on a sampled share of the line's frames, beside the
 * active one: one session call at a time in its own worker (its CPU budget), a
 * sampled frame that comes while the call runs is skipped and counted (never
 * queued, so it can never hold the active model's frames back), its own
 * trackers per camera, and events stored for the comparison, never alerted.
 */
export class ShadowRun {
  private readonly trackers: CameraTrackers;
  private readonly runs = new Map<string, CameraRun>();
  private busy = false;
  private closed = false;
  private lastError = '';
  private readonly clock: Clock;
  private readonly timer: Timer;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly o: ShadowOptions) {
    this.clock = o.clock ?? systemClock;
    this.trackers = new CameraTrackers(o.config);
    this.timer = this.clock.setInterval(() => this.flush(), FLUSH_MS);
  }

  get model(): ShadowOptions['model'] {
    return this.o.model;
  }

  /** The sampled share of each camera's frames the candidate inspects (model.shadow.share). */
  get share(): number {
    return this.o.share;
  }

  addCamera(cfg: CameraConfig): void {
    this.trackers.add(cfg);
  }

  removeCamera(id: string): void {
    this.trackers.remove(id);
  }

  /** A camera's frame, before the active model's scheduler may release its pixels: copied when sampled and the lane is free. */
  offer(frame: Frame): void {
    if (this.closed || !this.trackers.has(frame.camera)) return;
    const run = this.runOf(frame.camera);
    const n = run.offered++;
    if (!sampled(n, this.o.share)) return;
    if (this.busy) {
      run.skipped++;
      return;
    }
    this.busy = true;
    const copy: Frame = { ...frame, input: { rgb: Buffer.from(frame.input.rgb), width: frame.input.width, height: frame.input.height, release: () => {} } };
    this.inFlight = this.inspect(copy).finally(() => {
      this.busy = false;
    });
  }

  stats(): Array<{ camera: string; frames: number; skipped: number }> {
    return [...this.runs.entries()].map(([camera, r]) => ({ camera, frames: r.frames, skipped: r.skipped }));
  }

  /** Waits for the call in flight, writes the counts, closes the candidate's session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clock.clearInterval(this.timer);
    await this.inFlight;
    this.flush();
    await this.o.detector.close();
  }

  private runOf(camera: string): CameraRun {
    const activeHash = this.o.activeHash();
    let run = this.runs.get(camera);
    if (!run || run.activeHash !== activeHash) {
      if (run) this.write(camera, run);
      // A new row per active model: the comparison is between two models.
      run = { activeHash, startedAt: this.clock.now(), frames: 0, skipped: 0, offered: run?.offered ?? 0 };
      this.runs.set(camera, run);
    }
    return run;
  }

  private async inspect(frame: Frame): Promise<void> {
    const run = this.runOf(frame.camera);
    let detections;
    try {
      [detections] = await this.o.detector.detect([frame]);
    } catch (err) {
      const message = errorMessage(err);
      if (message !== this.lastError) this.o.log.error({ stage: 'infer', camera: frame.camera, err: message, model: this.o.model.version }, 'shadow model failed on a frame; the run goes on');
      this.lastError = message;
      return;
    }
    this.lastError = '';
    run.frames++;
    const tracker = this.trackers.get(frame.camera);
    if (!tracker) return;
    const { input: _input, ...meta } = frame;
    const inspected: InspectedFrame = { frame: meta, detections, inferredAt: this.clock.now(), latencyMs: 0, inferMs: 0, batchSize: 1, model: { name: this.o.model.name, version: this.o.model.version } };
    const rules = this.o.rules?.();
    this.trackers.apply(rules);
    const { events } = tracker.update(rules ? underRules(inspected, rules) : inspected);
    for (const event of events) {
      try {
        this.o.sink.event(event, this.o.model.hash, run.activeHash);
      } catch (err) {
        this.o.log.error({ stage: 'events', camera: event.camera, code: 'E_STORE', err: errorMessage(err) }, 'a shadow event could not be stored; the comparison misses it');
      }
    }
  }

  private flush(): void {
    for (const [camera, run] of this.runs) this.write(camera, run);
  }

  private write(camera: string, run: CameraRun): void {
    try {
      this.o.sink.run({ modelHash: this.o.model.hash, activeHash: run.activeHash, camera, startedAt: run.startedAt, endedAt: this.clock.now(), frames: run.frames, skipped: run.skipped });
    } catch (err) {
      this.o.log.error({ stage: 'store', camera, code: 'E_STORE', err: errorMessage(err) }, 'shadow run counts could not be stored');
    }
  }
}
