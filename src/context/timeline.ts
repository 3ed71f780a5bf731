import type { ProductionContext } from '../types.js';

/** One change of the line's context: from `ts` (ms since epoch) on, `context` is in force. */
export interface ContextChange {
  ts: number;
  context: ProductionContext;
}

/**
 * The recent context changes of a line, ordered by the time each took effect,
 * for stamping events by their frame's capture time: an alert confirmed after
 * a change but on a frame captured before it carries the earlier context.
 * Bounded: only the newest `max` changes are kept (events are stamped seconds
 * after their capture, never hours).
 *
 * @example
 * const t = new ContextTimeline();
 * t.add({ ts: 1000, context: { lot: 'A', ts: '…' } });
 * t.add({ ts: 2000, context: { lot: 'B', ts: '…' } });
 * t.at(1999)?.lot // 'A'
 */
export class ContextTimeline {
  private readonly changes: ContextChange[] = [];

  constructor(private readonly max = 1024) {}

  /** Inserts a change in time order (a late message may take effect before the newest one); a change already there is ignored. Returns whether it was new. */
  add(change: ContextChange): boolean {
    const i = upperBound(this.changes, change.ts);
    const json = JSON.stringify(change.context);
    for (let j = i - 1; j >= 0 && this.changes[j].ts === change.ts; j--) {
      if (JSON.stringify(this.changes[j].context) === json) return false;
    }
    this.changes.splice(i, 0, change);
    if (this.changes.length > this.max) this.changes.shift();
    return true;
  }

  /** The context in force at `ts`: the latest change at or before it (of two at the same time, the one added last); undefined before the first. */
  at(ts: number): ProductionContext | undefined {
    const i = upperBound(this.changes, ts);
    return i === 0 ? undefined : this.changes[i - 1].context;
  }

  /** The newest change (the context in force now, unless one takes effect later). */
  latest(): ContextChange | undefined {
    return this.changes.at(-1);
  }

  get size(): number {
    return this.changes.length;
  }
}

/** Index of the first change later than `ts` (binary search). */
function upperBound(changes: readonly ContextChange[], ts: number): number {
  let lo = 0;
  let hi = changes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (changes[mid].ts <= ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
