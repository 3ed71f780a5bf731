import type { DropReason } from './types.js';

/** What became of a camera's frames. */
export interface CoverageCounts {
  framesReceived: number;
  framesInspected: number;
  /** Frames that never reached the model (or whose call failed), by cause. */
  framesDropped: Record<DropReason, number>;
}

const REASONS: readonly DropReason[] = ['superseded', 'bad_frame', 'inference_error', 'shutdown'];

function zero(): CoverageCounts {
  return { framesReceived: 0, framesInspected: 0, framesDropped: Object.fromEntries(REASONS.map((r) => [r, 0])) as Record<DropReason, number> };
}

/**
 * Coverage, per camera: frames received, inspected and dropped (one reason per
 * cause). Owned by the line; ingest writes what it received and what it lost,
 * inference what it inspected and what it dropped; the status topic, the
 * overlay, `/metrics` and the per-minute statistics read it. Counts only grow
 * for as long as the process runs, across camera restarts and reloads, so a
 * reader can take differences.
 *
 * @example
 * const coverage = new CoverageLedger();
 * coverage.received('cam1');
 * coverage.dropped('cam1', 'superseded');
 * coverage.counts('cam1'); // { framesReceived: 1, framesInspected: 0, framesDropped: { superseded: 1, … } }
 */
export class CoverageLedger {
  private readonly cameras = new Map<string, CoverageCounts>();

  received(camera: string, n = 1): void {
    this.of(camera).framesReceived += n;
  }

  inspected(camera: string, n = 1): void {
    this.of(camera).framesInspected += n;
  }

  dropped(camera: string, reason: DropReason, n = 1): void {
    this.of(camera).framesDropped[reason] += n;
  }

  /** A copy of the camera's counts (all zero for a camera not seen yet). */
  counts(camera: string): CoverageCounts {
    const c = this.cameras.get(camera) ?? zero();
    return { framesReceived: c.framesReceived, framesInspected: c.framesInspected, framesDropped: { ...c.framesDropped } };
  }

  private of(camera: string): CoverageCounts {
    let c = this.cameras.get(camera);
    if (!c) {
      c = zero();
      this.cameras.set(camera, c);
    }
    return c;
  }
}
