import type { Worker } from 'node:worker_threads';
import type { Clock } from '../clock.js';
import { errorMessage, LinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import { fromWireError, type RunOutput, type RunRequest, type WorkerInit, type WorkerReply } from './worker-protocol.js';
import { startSessionWorker, stopWorker } from './worker-thread.js';

/** Wait before a worker that failed to start, or that died twice in a row, is started again. */
export const RESTART_BACKOFF_MS = 5000;

/** A worker that dies again within this long of the last death is not replaced at once, but after RESTART_BACKOFF_MS. */
export const REPEATED_DEATH_MS = 60_000;

/** A call as the pool queues it, before it has a lane. */
export interface QueuedCall {
  request: Omit<RunRequest, 'id'>;
  resolve: (out: RunOutput) => void;
  reject: (err: Error) => void;
}

export interface LaneHooks {
  log: Logger;
  /** Time for the restart backoff. */
  clock: Clock;
  /** The lane took a worker, lost one, or finished a call: the pool may hand out the next call. */
  changed(): void;
  /** Why the lane has no worker, for the error of calls that find none running. */
  failed(reason: string): void;
}

/**
 * One session's worker thread, running one call at a time. A worker that dies
 * (an uncaught error in it, or running out of memory; a native crash takes the
 * whole process, which systemd restarts) fails its call, and a fresh one opens
 * at once: one lost batch, not a dead line. One that dies again within
 * REPEATED_DEATH_MS (a call that kills every worker it meets) is replaced only
 * after RESTART_BACKOFF_MS, so a crash loop does not reload the model back to
 * back; so is one that fails to start.
 */
export class SessionLane {
  private worker: Worker | null = null;
  private opening: Promise<void> | null = null;
  /** A failed (re)start is not retried before this time (monotonic ms). */
  private retryAt = 0;
  /** When this lane's worker last died (ms epoch; 0: never). */
  private diedAt = 0;
  private call: (QueuedCall & { id: number }) | null = null;
  private nextId = 0;
  private closing = false;

  constructor(private readonly init: WorkerInit, private readonly hooks: LaneHooks) {}

  /** Its worker thread, when it has one. */
  get thread(): Worker | null {
    return this.worker;
  }

  /** A worker is open and has no call. */
  get idle(): boolean {
    return this.worker !== null && this.call === null;
  }

  /** No worker running and none starting. */
  get down(): boolean {
    return this.worker === null && this.opening === null;
  }

  /** Takes over a worker whose session is open. */
  adopt(worker: Worker): void {
    this.worker = worker;
    worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    worker.on('error', (err) => this.onDeath(worker, `failed: ${errorMessage(err)}`));
    worker.on('exit', (code) => this.onDeath(worker, `exited with code ${code}`));
  }

  /** Starts a worker (once: a second call while one starts waits for it). A failure is logged and retried after RESTART_BACKOFF_MS. */
  open(): Promise<void> {
    this.opening ??= startSessionWorker(this.init).then(
      ({ worker }) => (this.closing ? void worker.terminate() : this.adopt(worker)),
      (err) => this.onStartFailure(errorMessage(err)),
    ).finally(() => {
      this.opening = null;
      this.hooks.changed();
    });
    return this.opening;
  }

  /** Starts a worker if the lane has none and its backoff is over. */
  reviveIfDue(): void {
    if (!this.closing && this.down && this.hooks.clock.monotonic() >= this.retryAt) void this.open();
  }

  /** Runs `call` on this lane's worker; only when `idle`. */
  send(call: QueuedCall): void {
    if (!this.worker || this.call) throw new LinesightError('E_ARGUMENT', 'Expected an idle inference lane for the call but it is busy or has no worker');
    const id = this.nextId++;
    this.call = { ...call, id };
    // Structured clone: images on a SharedArrayBuffer are shared, others copied.
    this.worker.postMessage({ id, ...call.request } satisfies RunRequest);
  }

  /** Stops the worker (after one that is starting has started); a call still running fails. */
  async stop(): Promise<void> {
    this.closing = true;
    await this.opening;
    const worker = this.worker;
    this.worker = null;
    if (worker) await stopWorker(worker);
    this.settle(null, new LinesightError('E_MODEL_LOAD', 'the inference workers were released during the call'));
  }

  private onReply(reply: WorkerReply): void {
    if (!('id' in reply) || this.call?.id !== reply.id) return;
    if ('error' in reply) this.settle(null, fromWireError(reply.error, 'E_INFERENCE'));
    else this.settle(reply.output, null);
    this.hooks.changed();
  }

  private settle(output: RunOutput | null, err: Error | null): void {
    const call = this.call;
    this.call = null;
    if (!call) return;
    if (output) call.resolve(output);
    else call.reject(err as Error);
  }

  private onStartFailure(reason: string): void {
    this.hooks.failed(reason);
    this.retryAt = this.hooks.clock.monotonic() + RESTART_BACKOFF_MS;
    this.hooks.clock.setTimeout(() => this.hooks.changed(), RESTART_BACKOFF_MS);
    this.hooks.log.error({ stage: 'infer', code: 'E_MODEL_LOAD', err: reason, retry_ms: RESTART_BACKOFF_MS },
      'an inference worker failed to open; the others carry on and it is tried again');
  }

  /** Both `error` and `exit` come for one death: only the first, for the lane's current worker, counts. */
  private onDeath(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.hooks.failed(`a worker ${why}`);
    if (this.closing) return;
    const inFlight = this.call ? 1 : 0;
    this.settle(null, new LinesightError('E_MODEL_LOAD', `the inference worker ${why} during the call`));
    const now = this.hooks.clock.monotonic();
    const again = this.diedAt > 0 && now - this.diedAt < REPEATED_DEATH_MS;
    this.diedAt = now;
    if (again) this.reopenLater(why, inFlight, now);
    else {
      this.hooks.log.error({ stage: 'infer', code: 'E_MODEL_LOAD', inFlight }, `an inference worker ${why}; its call fails and a new one takes its place`);
      void this.open(); // now, not when the next call comes: that call should not wait for a session to load
    }
    this.hooks.changed();
  }

  private reopenLater(why: string, inFlight: number, now: number): void {
    this.hooks.log.error({ stage: 'infer', code: 'E_MODEL_LOAD', inFlight, retry_ms: RESTART_BACKOFF_MS },
      `an inference worker ${why}, the second time within ${REPEATED_DEATH_MS / 1000} s in this lane; its call fails and a new one opens in ${RESTART_BACKOFF_MS / 1000} s`);
    this.retryAt = now + RESTART_BACKOFF_MS;
    this.hooks.clock.setTimeout(() => {
      if (!this.closing && this.down) void this.open();
    }, RESTART_BACKOFF_MS);
  }
}
