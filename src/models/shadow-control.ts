import type { Clock } from '../clock.js';
import type { CameraConfig, Config } from '../config/schema.js';
import { errorMessage, isLinesightError, LinesightError } from '../errors.js';
import type { DetectionRules } from '../events/rules.js';
import type { Detector } from '../infer/detector.js';
import { checkSwap } from '../infer/model-slot.js';
import type { Logger } from '../log.js';
import type { Frame, ModelInfo } from '../types.js';
import { locateModel, type ModelTarget } from './line-models.js';
import type { ModelRegistry } from './registry.js';
import { ShadowRun } from './shadow.js';

export interface ShadowControlDeps {
  config: Config;
  registry: ModelRegistry;
  /** Opens and checks the candidate with the shadow's budget (one session, model.shadow.threads). */
  open(path: string): Promise<Detector>;
  /** The active model: its hash, and its input size and classes for the checks. */
  activeHash(): string;
  activeInfo(): ModelInfo;
  /** The cameras running now. */
  cameras(): Iterable<CameraConfig>;
  /** The rules the active model's frames are cut at now (recipes); the candidate's are cut the same. */
  rules?(): DetectionRules | undefined;
  log: Logger;
  clock: Clock;
}

/** Which candidate runs in shadow, if any: start, stop, and the frames it is offered. */
export class ShadowControl {
  private run: ShadowRun | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: ShadowControlDeps) {}

  get running(): ShadowRun | undefined {
    return this.run;
  }

  offer(frame: Frame): void {
    this.run?.offer(frame);
  }

  addCamera(cfg: CameraConfig): void {
    this.run?.addCamera(cfg);
  }

  removeCamera(id: string): void {
    this.run?.removeCamera(id);
  }

  /** Starts `target` in shadow in place of the candidate running (if any). Rejects with a LinesightError; a run already going on stays then. */
  start(target: ModelTarget, requestedBy = 'cli'): Promise<{ candidate: { hash: string; name: string; version: string } }> {
    return this.serial(async () => {
      const { registry, log, clock } = this.d;
      let hash: string | null = null;
      try {
        const found = await locateModel(registry, target);
        hash = found.hash;
        if (found.hash === this.d.activeHash()) {
          throw new LinesightError('E_MODEL_REF', `Expected a candidate other than the active model but ${found.entry?.version ?? found.path} is the active one`);
        }
        log.info({ stage: 'infer', path: found.path, share: this.d.config.model.shadow.share, requested_by: requestedBy }, 'loading shadow model');
        const detector = await this.d.open(found.path);
        try {
          checkSwap(this.d.activeInfo(), detector.info);
        } catch (err) {
          await detector.close().catch(() => undefined);
          throw err;
        }
        const { info } = detector;
        registry.put({ hash: found.hash, name: info.name, version: info.version, classes: info.classNames, inputWidth: info.inputWidth, inputHeight: info.inputHeight, file: found.path, source: found.path, addedAt: clock.now() });
        await this.stopRun();
        const model = { hash: found.hash, name: info.name, version: info.version };
        const run = new ShadowRun({
          detector, model, activeHash: this.d.activeHash, config: this.d.config, share: this.d.config.model.shadow.share, rules: this.d.rules, log, clock,
          sink: { event: (e, m, a) => registry.shadowEvent(e, m, a), run: (r) => registry.shadowRun(r) },
        });
        for (const cfg of this.d.cameras()) run.addCamera(cfg);
        this.run = run;
        registry.setRole('candidate', found.hash);
        registry.touch(found.hash, clock.now());
        registry.logChange({ action: 'shadow', hash: found.hash, previous: this.d.activeHash(), outcome: 'done', requestedBy }, clock.now());
        log.info({ stage: 'infer', model: info.name, version: info.version, share: this.d.config.model.shadow.share }, `shadow run of ${info.version} started; it never alerts`);
        return { candidate: model };
      } catch (err) {
        registry.logChange({ action: 'shadow', hash, previous: this.d.activeHash(), outcome: 'refused', requestedBy, message: errorMessage(err) }, clock.now());
        log.error({ stage: 'infer', code: isLinesightError(err) ? err.code : undefined, err: errorMessage(err) }, 'shadow run refused');
        throw isLinesightError(err) ? err : new LinesightError('E_MODEL_LOAD', `Expected the shadow model to load but ${errorMessage(err)}`, { cause: err });
      }
    });
  }

  /** Stops the shadow run (its counts are written); `forget`: the candidate role is cleared too. */
  stop(requestedBy = 'cli', forget = true): Promise<{ candidate: null }> {
    return this.serial(async () => {
      const hash = this.run?.model.hash ?? null;
      await this.stopRun();
      if (forget) this.d.registry.setRole('candidate', null);
      if (hash) this.d.registry.logChange({ action: 'shadow_stop', hash, previous: this.d.activeHash(), outcome: 'done', requestedBy }, this.d.clock.now());
      return { candidate: null };
    });
  }

  /** The line stops: the run ends, the candidate stays recorded. */
  close(): Promise<unknown> {
    return this.serial(() => this.stopRun());
  }

  private async stopRun(): Promise<void> {
    const run = this.run;
    this.run = undefined;
    if (run) {
      await run.close();
      this.d.log.info({ stage: 'infer', version: run.model.version, cameras: run.stats() }, 'shadow run stopped');
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
