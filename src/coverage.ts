import { systemClock, type Clock } from './clock.js';
import type { DropReason } from './types.js';

/** What became of a camera's frames. */
export interface CoverageCounts {
  framesReceived: number;
  framesInspected: number;
  /** Frames that never reached the model (or whose call failed), by cause. */
  framesDropped: Record<DropReason, number>;
  /** Of `framesInspected`, those inspected while the camera was degraded (blind, frozen, moved…). */
  framesInspectedDegraded: number;
  /** Seconds the camera spent degraded, the current episode included. */
  secondsDegraded: number;
}

const REASONS: readonly DropReason[] = ['superseded', 'bad_frame', 'inference_error', 'shutdown'];

interface Ledger {
  framesReceived: number;
  framesInspected: number;
  framesDropped: Record<DropReason, number>;
  framesInspectedDegraded: number;
  /** Finished degraded episodes, ms. */
  degradedMs: number;
  /** Monotonic start of the current degraded episode. */
  degradedSince?: number;
}

function zero(): Ledger {
  return {
    framesReceived: 0, framesInspected: 0, framesDropped: Object.fromEntries(REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    framesInspectedDegraded: 0, degradedMs: 0,
  };
}

/**
 * Coverage, per camera: frames received, inspected and dropped (one reason per
 * cause), and how much of it happened while the camera was degraded. Owned by
 * the line; ingest writes what it received and what it lost, inference what it
 * inspected and what it dropped, the health monitors whether the camera can
 * see; the status topic, the overlay, `/metrics` and the per-minute statistics
 * read it. Counts only grow for as long as the process runs, across camera
 * restarts and reloads, so a reader can take differences.
 *
 * @example
 * const coverage = new CoverageLedger();
 * coverage.received('cam1');
 * coverage.dropped('cam1', 'superseded');
 * coverage.counts('cam1'); // { framesReceived: 1, framesInspected: 0, framesDropped: { superseded: 1, … }, … }
 */
export class CoverageLedger {
  private readonly cameras = new Map<string, Ledger>();

  /** `clock` times the degraded episodes (monotonic, so a step of the wall clock never bends them). */
  constructor(private readonly clock: Clock = systemClock) {}

  received(camera: string, n = 1): void {
    this.of(camera).framesReceived += n;
  }

  /** Frames the model ran on; they count as degraded too while the camera is degraded. */
  inspected(camera: string, n = 1): void {
    const c = this.of(camera);
    c.framesInspected += n;
    if (c.degradedSince !== undefined) c.framesInspectedDegraded += n;
  }

  dropped(camera: string, reason: DropReason, n = 1): void {
    this.of(camera).framesDropped[reason] += n;
  }

  /** The camera's health monitor says whether it is degraded now; repeating the same answer changes nothing. */
  degraded(camera: string, degraded: boolean): void {
    const c = this.of(camera);
    if (degraded && c.degradedSince === undefined) c.degradedSince = this.clock.monotonic();
    if (!degraded && c.degradedSince !== undefined) {
      c.degradedMs += Math.max(0, this.clock.monotonic() - c.degradedSince);
      c.degradedSince = undefined;
    }
  }

  isDegraded(camera: string): boolean {
    return this.cameras.get(camera)?.degradedSince !== undefined;
  }

  /** A copy of the camera's counts (all zero for a camera not seen yet). */
  counts(camera: string): CoverageCounts {
    const c = this.cameras.get(camera) ?? zero();
    const ongoing = c.degradedSince === undefined ? 0 : Math.max(0, this.clock.monotonic() - c.degradedSince);
    return {
      framesReceived: c.framesReceived,
      framesInspected: c.framesInspected,
      framesDropped: { ...c.framesDropped },
      framesInspectedDegraded: c.framesInspectedDegraded,
      secondsDegraded: (c.degradedMs + ongoing) / 1000,
    };
  }

  private of(camera: string): Ledger {
    let c = this.cameras.get(camera);
    if (!c) {
      c = zero();
      this.cameras.set(camera, c);
    }
    return c;
  }
}
