import { LinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ModelInfo, ModelRef } from '../types.js';
import type { Detector } from './detector.js';

/** Where the scheduler takes the detector for its next batch. */
export interface DetectorSource {
  /** The detector the next batch goes to. */
  current(): Detector;
  /** The name and version alerts carry for results of `detector` (one object per detector, so it can be compared by identity). */
  refOf(detector: Detector): ModelRef;
}

/** What differs between the running model and one to take its place, once both are loaded. */
export interface SwapCheck {
  /** Same class names in the same order: the trackers' tracks stay meaningful across the swap. */
  sameClasses: boolean;
}

/**
 * Whether `next` can take `running`'s place without restarting the cameras:
 * ffmpeg letterboxes every frame to the running model's input size, so a model
 * of another input size is refused (E_MODEL_SHAPE).
 */
export function checkSwap(running: Pick<ModelInfo, 'inputWidth' | 'inputHeight' | 'classNames'>, next: Pick<ModelInfo, 'inputWidth' | 'inputHeight' | 'classNames' | 'path'>): SwapCheck {
  if (running.inputWidth !== next.inputWidth || running.inputHeight !== next.inputHeight) {
    throw new LinesightError('E_MODEL_SHAPE',
      `Expected ${next.path} to take a ${running.inputWidth}×${running.inputHeight} input like the running model (the cameras letterbox to it) but it takes ${next.inputWidth}×${next.inputHeight}; change model.path and restart the line to change the input size`);
  }
  const sameClasses = running.classNames.length === next.classNames.length && running.classNames.every((n, i) => n === next.classNames[i]);
  return { sameClasses };
}

/**
 * The line's detector, replaceable between two batches. The scheduler reads
 * `current()` and starts its call in the same tick, so once `swap` has set the
 * new detector no further call reaches the old one; the old one's `close()`
 * waits for the calls already running (the batch in flight finishes on it).
 */
export class ModelSlot implements DetectorSource {
  private detector: Detector;
  private readonly refs = new WeakMap<Detector, ModelRef>();

  constructor(initial: Detector, private readonly log: Logger) {
    this.detector = initial;
  }

  current(): Detector {
    return this.detector;
  }

  refOf(detector: Detector): ModelRef {
    let ref = this.refs.get(detector);
    if (!ref) {
      ref = { name: detector.info.name, version: detector.info.version };
      this.refs.set(detector, ref);
    }
    return ref;
  }

  /**
   * Puts `next` in place for the next batch, then closes the old detector once
   * its calls in flight have returned. `next` must be loaded and checked
   * (`checkSwap`); this step cannot fail for the line: a failing close of the
   * old one is logged and the new one runs.
   */
  async swap(next: Detector): Promise<Detector> {
    const old = this.detector;
    this.detector = next;
    this.log.info({ stage: 'infer', from: old.info.version, to: next.info.version, model: next.info.name },
      `model swapped: the next batch runs on ${next.info.name} ${next.info.version}`);
    try {
      await old.close();
    } catch (err) {
      this.log.error({ stage: 'infer', code: 'E_MODEL_LOAD', err: (err as Error).message, model: old.info.name }, 'closing the previous model failed; the new one runs');
    }
    return old;
  }

  close(): Promise<void> {
    return this.detector.close();
  }
}
