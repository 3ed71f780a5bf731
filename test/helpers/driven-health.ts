import { EventEmitter } from 'node:events';
import type { HealthChange, HealthReason, HealthSnapshot, HealthStateName } from '../../src/health/types.js';
import type { HealthMonitorLike } from '../../src/line-health.js';
import type { Frame } from '../../src/types.js';

/**
 * A health monitor the test drives (through `LineOptions.healthMonitor`): it
 * reads every frame's model input as the real one does (so a frame offered
 * after its input was released would show), and changes state when told.
 */
export class DrivenMonitor extends EventEmitter<{ change: [HealthChange] }> implements HealthMonitorLike {
  offered = 0;
  unreadable = 0;
  relearned = 0;
  closed = false;
  private state: HealthSnapshot = { state: 'ok', reasons: [], since: Date.now(), learning: false };

  constructor(readonly camera: string) {
    super();
  }

  offer(frame: Frame): void {
    const { rgb, width, height } = frame.input;
    if (rgb.length < width * height * 3) this.unreadable += 1;
    this.offered += 1;
  }

  relearn(): void {
    this.relearned += 1;
  }

  snapshot(): HealthSnapshot {
    return { ...this.state, reasons: [...this.state.reasons] };
  }

  /** Changes state now; `since` (ms since epoch) is when the new state began, which a real monitor reports after its hold time. */
  set(state: HealthStateName, reasons: HealthReason[], since = Date.now()): void {
    this.state = { state, reasons, since, learning: false };
    this.emit('change', { camera: this.camera, state, reasons, since, values: { brightness: 0.02, contrast: 0.01, sharpness: 3.5, change: 0, stillSeconds: 1 } });
  }

  close(): void {
    this.closed = true;
    this.removeAllListeners();
  }
}
