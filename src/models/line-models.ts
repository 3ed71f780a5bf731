import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { errorMessage, isLinesightError, LinesightError } from '../errors.js';
import type { Detector } from '../infer/detector.js';
import { checkSwap, type ModelSlot } from '../infer/model-slot.js';
import type { Logger } from '../log.js';
import { hashFile, type ModelEntry, type ModelRegistry } from './registry.js';

/** How often a long model load (a TensorRT engine build) is reported in the log. */
const LOAD_TICK_MS = 30_000;

/** A model the line can switch to: a registered one (version, sha256 or a unique prefix of it), or an ONNX file. */
export type ModelTarget = string | { path: string };

export interface ActivateOptions {
  /** Who asked, for the log and the history (`cli`, `reload`, `recipe:NAME`, …). */
  requestedBy?: string;
  /** The model.path configured from now on (a reload that changed it); default: the one the line started with. */
  configPath?: string;
}

/** A model as the line reports it. */
export interface RunningModel {
  name: string;
  version: string;
  hash: string;
  path: string;
}

export interface ModelSwap {
  active: RunningModel;
  previous: RunningModel;
  /** false when the target already was the active model: nothing was loaded. */
  swapped: boolean;
  /** Time spent loading and checking the new model, ms (the old one inspected meanwhile). */
  loadMs: number;
}

/** What a load in progress looks like in the status and the log. */
export interface LoadingState {
  path: string;
  since: number;
  requestedBy?: string;
}

/** The running line's model: which one runs, and switching to another without stopping the cameras. */
export interface LineModels {
  /**
   * Loads `target` fully while the running model keeps inspecting, checks it
   * (test inference, the cameras' input size), then swaps between two batches
   * and closes the old one. Calls run one at a time. Rejects with a
   * LinesightError (the running model stays) when the target is unknown, does
   * not load, or does not fit.
   */
  activate(target: ModelTarget, options?: ActivateOptions): Promise<ModelSwap>;
  /** Back to the model that ran before the last swap (E_MODEL_REF when there is none). */
  rollback(options?: ActivateOptions): Promise<ModelSwap>;
  active(): RunningModel;
  /** The load in progress, if any ("loading candidate" in the status). */
  loading(): LoadingState | undefined;
  /** Waits for a change in progress; later ones are refused (the line is stopping). */
  close(): Promise<void>;
}

export interface LineModelsDeps {
  slot: ModelSlot;
  /** The running model's file and hash. */
  initial: { path: string; hash: string };
  /** model.path of the configuration: recorded with each activation (see startModelPath). */
  configPath: string;
  /** Opens and checks a model file (`loadChecked` with the line's settings). */
  open(path: string): Promise<Detector>;
  registry: ModelRegistry;
  /** A swap to a model with other class names: the trackers start again. */
  classesChanged(): void;
  /** A swap is done (the shadow run stops when its candidate became the active model). */
  swapped?(running: RunningModel): void;
  /** Status text while a model loads and once it is over (systemd STATUS). */
  status?(text: string | undefined): void;
  log: Logger;
  clock?: Clock;
}

/** The running line's models (see LineModels). */
export function lineModels(deps: LineModelsDeps): LineModels {
  const { slot, registry, log } = deps;
  const clock = deps.clock ?? systemClock;
  let running: RunningModel = { ...refOf(slot.current()), hash: deps.initial.hash, path: deps.initial.path };
  let loading: LoadingState | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let configPath = deps.configPath;
  let closed = false;
  registerRunning(registry, slot.current(), deps.initial, clock.now());
  registry.touch(deps.initial.hash, clock.now());
  // What runs is what `models list` calls active (the previous one stays recorded for a rollback).
  if (registry.role('active') !== deps.initial.hash) registry.activated(deps.initial.hash, registry.role('active') ?? registry.role('previous') ?? null, deps.configPath);

  async function swapTo(target: ModelTarget, action: 'activate' | 'rollback', options: ActivateOptions): Promise<ModelSwap> {
    const previous = running;
    let hash: string | null = null;
    try {
      const found = await locateModel(registry, target);
      hash = found.hash;
      if (found.hash === running.hash) {
        log.info({ stage: 'infer', version: running.version, hash: running.hash }, `model ${running.version} is already active; nothing to swap`);
        return { active: running, previous, swapped: false, loadMs: 0 };
      }
      const started = clock.monotonic();
      loading = { path: found.path, since: clock.now(), ...(options.requestedBy ? { requestedBy: options.requestedBy } : {}) };
      deps.status?.(`loading candidate model ${found.entry?.version ?? found.path}`);
      log.info({ stage: 'infer', path: found.path, hash: found.hash, requested_by: options.requestedBy }, 'loading candidate model; the running model keeps inspecting');
      // A TensorRT engine build says nothing for minutes: the log says the load goes on.
      const ticker = clock.setInterval(() => log.info({ stage: 'infer', path: found.path, elapsed_s: Math.round((clock.monotonic() - started) / 1000) },
        'still loading candidate model; the running model keeps inspecting'), LOAD_TICK_MS);
      const next = await deps.open(found.path).finally(() => clock.clearInterval(ticker));
      let check;
      try {
        check = checkSwap(slot.current().info, next.info);
      } catch (err) {
        await next.close().catch(() => undefined);
        throw err;
      }
      const loadMs = clock.monotonic() - started;
      if (closed) {
        await next.close();
        throw new LinesightError('E_MODEL_LOAD', `Expected the line to be running to swap in ${found.path} but it is stopping`);
      }
      configPath = options.configPath ?? configPath;
      registerRunning(registry, next, found, clock.now());
      registry.activated(found.hash, previous.hash, configPath);
      await slot.swap(next);
      if (!check.sameClasses) {
        log.warn({ stage: 'events', from: slot.refOf(next).version, classes: next.info.classNames }, 'the new model names other classes: tracks start again (a defect in view may alert once more)');
        deps.classesChanged();
      }
      running = { ...refOf(next), hash: found.hash, path: found.path };
      registry.touch(found.hash, clock.now());
      registry.logChange({ action, hash: found.hash, previous: previous.hash, outcome: 'done', requestedBy: options.requestedBy }, clock.now());
      deps.swapped?.(running);
      log.info({ stage: 'infer', version: running.version, previous: previous.version, load_ms: Math.round(loadMs), requested_by: options.requestedBy },
        `model ${running.name} ${running.version} active (was ${previous.version})`);
      return { active: running, previous, swapped: true, loadMs };
    } catch (err) {
      const message = errorMessage(err);
      registry.logChange({ action, hash, previous: previous.hash, outcome: 'refused', requestedBy: options.requestedBy, message }, clock.now());
      log.error({ stage: 'infer', code: isLinesightError(err) ? err.code : undefined, err: message, running: running.version },
        `model change refused; ${running.name} ${running.version} keeps running`);
      throw isLinesightError(err) ? new LinesightError(err.code, `${message} (the running model ${running.version} stays)`, { cause: err, details: err.details })
        : new LinesightError('E_MODEL_LOAD', `Expected the model to load but ${message} (the running model ${running.version} stays)`, { cause: err });
    } finally {
      if (loading) deps.status?.(undefined);
      loading = undefined;
    }
  }

  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

  return {
    activate: (target, options = {}) => serial(() => swapTo(target, 'activate', options)),
    rollback: (options = {}) => serial(() => {
      const previous = registry.role('previous');
      if (!previous) return Promise.reject(new LinesightError('E_MODEL_REF', `Expected a model active before ${running.version} to roll back to but this box has none recorded`));
      return swapTo(previous, 'rollback', options);
    }),
    active: () => running,
    loading: () => loading,
    close: async () => {
      closed = true;
      await queue;
    },
  };
}

/** The file and hash of a model target; E_MODEL_REF for an unknown version or hash, E_MODEL_NOT_FOUND for a missing file. */
export async function locateModel(registry: ModelRegistry, target: ModelTarget): Promise<{ path: string; hash: string; entry?: ModelEntry }> {
  if (typeof target !== 'string') {
    const path = resolve(target.path);
    if (!existsSync(path)) throw new LinesightError('E_MODEL_NOT_FOUND', `Expected an ONNX model file at ${path} but there is no such file`);
    const hash = await hashFile(path);
    const entry = registry.get(hash);
    return { path: entry && existsSync(entry.file) ? entry.file : path, hash, entry };
  }
  const entry = registry.resolve(target);
  if (!existsSync(entry.file)) {
    throw new LinesightError('E_MODEL_NOT_FOUND', `Expected the file of model ${entry.version} (${entry.hash.slice(0, 12)}) at ${entry.file} but there is no such file; add it again with linesight models add`);
  }
  return { path: entry.file, hash: entry.hash, entry };
}

function refOf(detector: Detector): { name: string; version: string } {
  return { name: detector.info.name, version: detector.info.version };
}

/** A model that runs is in the registry, even one never added (the configured file). */
function registerRunning(registry: ModelRegistry, detector: Detector, at: { path: string; hash: string }, now: number): void {
  const { info } = detector;
  registry.put({
    hash: at.hash, name: info.name, version: info.version, classes: info.classNames, inputWidth: info.inputWidth, inputHeight: info.inputHeight,
    file: at.path, source: at.path, addedAt: now,
  });
}
