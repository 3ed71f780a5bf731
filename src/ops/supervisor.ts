import type { CameraConfig, Config } from '../config/schema.js';
import { errorMessage, isLinesightError } from '../errors.js';
import type { Logger } from '../log.js';

/** What the supervisor needs of a running line. */
export interface SupervisedLine {
  reconfigureCameras(cameras: readonly CameraConfig[]): Promise<unknown>;
  /** Swaps the model between batches (src/models/line-models.ts); a line without it restarts for a new model.path. */
  models?: { activate(target: { path: string }, options: { requestedBy: string; configPath: string }): Promise<unknown> };
  stop(): Promise<void>;
}

export interface SupervisorOptions<L extends SupervisedLine> {
  /** Reads and validates the configuration file; throws (E_CONFIG…) when it is invalid. */
  load(): Config;
  /** Starts a line; on failure it has closed whatever it opened. */
  start(config: Config): Promise<L>;
  /** True when only the camera list differs, so the running line can change in place. */
  onlyCamerasDiffer(a: Config, b: Config): boolean;
  log: Logger;
  /** Called when a reload begins and once it is over (whatever the outcome), e.g. for systemd's RELOADING=1 / READY=1. */
  reloading?(): void;
  reloaded?(): void;
  /**
   * The line is down and cannot be brought back with either configuration: the
   * caller exits non-zero so systemd (or the container runtime) restarts it.
   */
  fatal(err: unknown): void;
}

export type ReloadOutcome = 'refused' | 'cameras' | 'model' | 'model_refused' | 'restarted' | 'reverted' | 'down' | 'stopped';

function codeOf(err: unknown): string | undefined {
  return isLinesightError(err) ? err.code : undefined;
}

/**
 * Keeps one line running through reloads and until stop. Reloads run one at a
 * time, in order: an invalid file is refused and the running configuration
 * stays; a change of cameras only is applied in place, and so is a new
 * model.path (a model swap between batches; a model that does not load is
 * refused and the running one stays: `model_refused`); anything else restarts
 * the line in-process, and a new configuration that fails to start is replaced
 * by the previous one. No step throws: every failure is logged with what
 * happens next, and a line that cannot be brought back is reported to `fatal`.
 */
export class LineSupervisor<L extends SupervisedLine> {
  private current: L | undefined;
  private config: Config;
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;

  private constructor(private readonly o: SupervisorOptions<L>, config: Config, line: L) {
    this.config = config;
    this.current = line;
  }

  /** Loads the configuration and starts the first line; throws when either fails (nothing is left open). */
  static async start<L extends SupervisedLine>(options: SupervisorOptions<L>): Promise<LineSupervisor<L>> {
    const config = options.load();
    const line = await options.start(config);
    return new LineSupervisor(options, config, line);
  }

  /** The running line, or undefined after a failed restart left none. */
  get line(): L | undefined {
    return this.current;
  }

  get configuration(): Config {
    return this.config;
  }

  /** Queues a reload of the configuration file; resolves with what happened. */
  reload(): Promise<ReloadOutcome> {
    const next = this.queue.then(() => this.reloadNow());
    this.queue = next;
    return next;
  }

  /** Waits for a reload in progress, then stops the line. Rejects when the line did not stop cleanly. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.queue;
    const line = this.current;
    this.current = undefined;
    await line?.stop();
  }

  private async reloadNow(): Promise<ReloadOutcome> {
    if (this.stopping) return 'stopped';
    this.o.reloading?.();
    try {
      return await this.apply();
    } finally {
      this.o.reloaded?.();
    }
  }

  private async apply(): Promise<ReloadOutcome> {
    const { log } = this.o;
    let next: Config;
    try {
      next = this.o.load();
    } catch (err) {
      log.error({ stage: 'app', code: codeOf(err), err: errorMessage(err) }, 'reload refused: the new configuration is invalid; the running configuration stays');
      return 'refused';
    }
    const swap = this.current?.models && next.model.path !== this.config.model.path;
    if (this.current && swap && this.o.onlyCamerasDiffer(this.config, { ...next, model: { ...next.model, path: this.config.model.path } })) {
      return this.swapModel(this.current, next);
    }
    if (this.current && this.o.onlyCamerasDiffer(this.config, next)) {
      try {
        await this.current.reconfigureCameras(next.cameras);
        this.config = next;
        return 'cameras';
      } catch (err) {
        log.error({ stage: 'app', code: codeOf(err), err: errorMessage(err) }, 'reload of the cameras failed; restarting the line with the new configuration');
      }
    } else {
      log.info({ stage: 'app' }, 'reload: settings beyond the camera list changed; restarting the line in-process');
    }
    await this.stopCurrent();
    const failedNew = await this.startWith(next);
    if (failedNew === undefined) {
      this.config = next;
      return 'restarted';
    }
    log.error({ stage: 'app', code: codeOf(failedNew), err: errorMessage(failedNew) }, 'reload failed: the new configuration did not start; restarting with the previous one');
    const failedOld = await this.startWith(this.config);
    if (failedOld === undefined) return 'reverted';
    log.error({ stage: 'app', code: codeOf(failedOld), err: errorMessage(failedOld) }, 'the previous configuration did not start either; the line is down');
    this.o.fatal(failedOld);
    return 'down';
  }

  /** Cameras in place, then the model swapped; a model that does not load leaves the running one (and model.path as it was). */
  private async swapModel(line: L, next: Config): Promise<ReloadOutcome> {
    const { log } = this.o;
    try {
      await line.reconfigureCameras(next.cameras);
    } catch (err) {
      log.error({ stage: 'app', code: codeOf(err), err: errorMessage(err) }, 'reload of the cameras failed; the model is not swapped and the running configuration stays');
      return 'refused';
    }
    this.config = { ...next, model: this.config.model };
    try {
      await line.models?.activate({ path: next.model.path }, { requestedBy: 'reload', configPath: next.model.path });
    } catch (err) {
      log.error({ stage: 'app', code: codeOf(err), err: errorMessage(err), path: next.model.path }, 'reload: the new model.path was refused; the running model stays');
      return 'model_refused';
    }
    this.config = next;
    return 'model';
  }

  private async stopCurrent(): Promise<void> {
    const line = this.current;
    this.current = undefined;
    try {
      await line?.stop();
    } catch (err) {
      // Its resources were closed as far as they could be (each failure logged); the new line starts anyway.
      this.o.log.error({ stage: 'app', code: codeOf(err), err: errorMessage(err) }, 'the running line did not stop cleanly; starting the next one');
    }
  }

  /** Starts a line with `config`; returns undefined on success, else the error. */
  private async startWith(config: Config): Promise<unknown> {
    try {
      this.current = await this.o.start(config);
      return undefined;
    } catch (err) {
      return err ?? new Error('the line failed to start');
    }
  }
}
