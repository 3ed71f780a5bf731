import { systemClock, type Clock } from '../clock.js';
import type { Worker } from 'node:worker_threads';
import { LinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { TensorInput } from '../preprocess/tensor.js';
import type { InferenceBackend } from './backend.js';
import type { ProviderName } from './session.js';
import { SessionLane, type QueuedCall } from './session-lane.js';
import type { Opened, RunOutput, WorkerInit } from './worker-protocol.js';

export interface PoolShape {
  /** Lanes: sessions side by side, one worker thread each. */
  sessions: number;
  /** See InferenceBackend.maxCallFrames. */
  maxCallFrames?: number;
  /** Time for the lanes' restart backoff. Default: the system's. */
  clock?: Clock;
}

/**
 * Sessions on worker threads, one `SessionLane` each, behind one queue: a call
 * goes to the first idle lane, or waits in order for one. With no lane running
 * a worker and none starting one (all failed, or waiting out a backoff),
 * waiting calls fail instead of piling up.
 */
export class WorkerPool implements InferenceBackend {
  readonly provider: ProviderName;
  readonly skipped: ReadonlyArray<{ provider: ProviderName; reason: string }>;
  readonly outputNames: readonly string[];
  readonly sessions: number;
  readonly maxCallFrames?: number;
  private readonly lanes: SessionLane[];
  private readonly queue: QueuedCall[] = [];
  private closing = false;
  private lastFailure = 'not started';

  /** `init`: how every lane opens its session; `opened`: what the first session reported. */
  constructor(init: WorkerInit, opened: Opened, shape: PoolShape, log: Logger) {
    this.provider = opened.provider;
    this.skipped = opened.skipped;
    this.outputNames = opened.outputNames;
    this.sessions = shape.sessions;
    if (shape.maxCallFrames !== undefined) this.maxCallFrames = shape.maxCallFrames;
    const hooks = {
      log,
      clock: shape.clock ?? systemClock,
      changed: () => this.dispatch(),
      failed: (reason: string) => {
        this.lastFailure = reason;
      },
    };
    this.lanes = Array.from({ length: shape.sessions }, () => new SessionLane(init, hooks));
  }

  /** Gives the first lane a worker already open (the one that found the provider). */
  adopt(worker: Worker): void {
    this.lanes[0].adopt(worker);
  }

  /** Opens every lane that has no worker yet; rejects (E_MODEL_LOAD) when none is running afterwards. */
  async start(): Promise<void> {
    await Promise.all(this.lanes.filter((lane) => lane.down).map((lane) => lane.open()));
    if (this.lanes.every((lane) => lane.thread === null)) {
      await this.release();
      throw new LinesightError('E_MODEL_LOAD', `Expected an inference worker to open the model on ${this.provider} but none did (${this.lastFailure})`);
    }
  }

  /** The live worker threads, one per lane that has one (terminating one is how a crashed thread looks to the pool). */
  workers(): Worker[] {
    return this.lanes.map((lane) => lane.thread).filter((w): w is Worker => w !== null);
  }

  run(input: TensorInput, images: readonly Uint8Array[], batch: number): Promise<RunOutput> {
    return new Promise<RunOutput>((resolve, reject) => {
      if (this.closing) {
        reject(new LinesightError('E_MODEL_LOAD', 'the inference workers are closing'));
        return;
      }
      this.queue.push({ request: { input, images: [...images], batch }, resolve, reject });
      this.dispatch();
    });
  }

  async release(): Promise<void> {
    this.closing = true;
    for (const call of this.queue.splice(0)) call.reject(new LinesightError('E_MODEL_LOAD', 'the inference workers were released'));
    await Promise.all(this.lanes.map((lane) => lane.stop()));
  }

  private dispatch(): void {
    if (this.closing) return;
    for (const lane of this.lanes) {
      if (this.queue.length === 0) return;
      if (lane.idle) lane.send(this.queue.shift() as QueuedCall);
      else lane.reviveIfDue();
    }
    // No session running and none starting: fail the waiting calls rather than hold them.
    if (this.queue.length > 0 && this.lanes.every((lane) => lane.down)) {
      for (const call of this.queue.splice(0)) call.reject(new LinesightError('E_MODEL_LOAD', `no inference worker is running (${this.lastFailure})`));
    }
  }
}
