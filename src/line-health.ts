import { v7 as uuidv7 } from 'uuid';
import type { CoverageLedger } from './coverage.js';
import { LinesightError, describeValue, errorMessage, isLinesightError } from './errors.js';
import type { HealthChange, HealthSnapshot } from './health/types.js';
import type { Logger } from './log.js';
import type { CameraSnapshot, Frame } from './types.js';

/** What the line needs of a camera's health monitor: `CameraHealthMonitor` (src/health/), or a test's own. */
export interface HealthMonitorLike {
  /** Reads the frame's model input synchronously: called before the frame goes on to the scheduler. */
  offer(frame: Frame): void;
  /** Forgets the learned baseline (sharpness, reference picture) and learns it again from the next frames. */
  relearn(): void;
  snapshot(): HealthSnapshot;
  on(event: 'change', listener: (change: HealthChange) => void): unknown;
  close(): void;
}

/** Where a health change goes once the coverage knows it: the store (outbox first), then the broker and the status. */
export interface HealthSinks {
  /** Commits the event; throws E_STORE when the store cannot. */
  record(event: HealthChange & { id: string }): void;
  /** A new event is in the health outbox. */
  stored(): void;
  /** The camera's status changed: publish it again. */
  changed(camera: string): void;
}

/**
 * The line's camera health: one monitor per running camera, its state handed
 * to the coverage ledger (frames inspected while degraded), its snapshot laid
 * on the camera's, and each change recorded as an event (stored before it is
 * published, like an alert) with the camera status republished.
 *
 * A change the store cannot commit (a full or failing disk) is logged at error
 * once per episode and not published as an event: the retained camera status,
 * published from memory, still carries the new state.
 */
export class LineHealth {
  private readonly monitors = new Map<string, HealthMonitorLike>();
  private failing = false;
  private readonly broken = new Set<string>();
  sinks: HealthSinks | undefined;

  constructor(private readonly coverage: CoverageLedger, private readonly log: Logger) {}

  /** Watches camera `id` with `monitor` (replacing one it had). */
  add(id: string, monitor: HealthMonitorLike): void {
    this.remove(id);
    this.monitors.set(id, monitor);
    this.coverage.degraded(id, monitor.snapshot().state === 'degraded');
    monitor.on('change', (change) => this.changed(change));
  }

  /** The camera left: its monitor closes, and its degraded time stops counting. */
  remove(id: string): void {
    this.monitors.get(id)?.close();
    this.monitors.delete(id);
    this.broken.delete(id);
    this.coverage.degraded(id, false);
  }

  /** Hands the frame to the camera's monitor. A monitor that throws is logged once and never stops the frame. */
  offer(frame: Frame): void {
    const monitor = this.monitors.get(frame.camera);
    if (!monitor) return;
    try {
      monitor.offer(frame);
    } catch (err) {
      if (this.broken.has(frame.camera)) return;
      this.broken.add(frame.camera);
      this.log.error({ stage: 'health', camera: frame.camera, code: isLinesightError(err) ? err.code : 'E_ARGUMENT', err: errorMessage(err) },
        `the health monitor of ${frame.camera} failed on a frame: ${errorMessage(err)}; frames are still inspected, its health may be stale`);
    }
  }

  relearn(id: string): void {
    const monitor = this.monitors.get(id);
    if (!monitor) {
      throw new LinesightError('E_ARGUMENT', `Expected the id of a running camera (${[...this.monitors.keys()].join(', ') || 'none'}) but received ${describeValue(id)}`);
    }
    monitor.relearn(); // logged by the monitor
  }

  /** The camera's snapshot with its health and its degraded counts. */
  decorate(s: CameraSnapshot): CameraSnapshot {
    const counts = this.coverage.counts(s.id);
    const monitor = this.monitors.get(s.id);
    return {
      ...s,
      ...(monitor ? { health: monitor.snapshot() } : {}),
      framesInspectedDegraded: counts.framesInspectedDegraded,
      secondsDegraded: counts.secondsDegraded,
    };
  }

  closeAll(): void {
    for (const id of [...this.monitors.keys()]) this.remove(id);
  }

  private changed(change: HealthChange): void {
    // The monitor logs the change itself (with the values that decided it).
    this.coverage.degraded(change.camera, change.state === 'degraded');
    const sinks = this.sinks;
    if (!sinks) return;
    if (this.store(sinks, change)) sinks.stored();
    sinks.changed(change.camera);
  }

  private store(sinks: HealthSinks, change: HealthChange): boolean {
    try {
      sinks.record({ ...change, id: uuidv7() });
    } catch (err) {
      if (!this.failing) {
        this.failing = true;
        this.log.error({ stage: 'store', camera: change.camera, code: isLinesightError(err) ? err.code : 'E_STORE', err: errorMessage(err) },
          `could not store the health change of ${change.camera} (${change.state}): ${errorMessage(err)}; health events are not published until the store takes them again, the camera status still carries the state`);
      }
      return false;
    }
    if (this.failing) {
      this.failing = false;
      this.log.info({ stage: 'store', camera: change.camera }, 'health events are stored and published again');
    }
    return true;
  }
}
