import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PictureFile, PicturesTable } from '../store/pictures.js';

/** Rows removed per transaction; the loop yields between chunks. */
const CHUNK = 100;

export type RemoveReason = 'quota' | 'retention' | 'orphan';

export interface KeeperDeps {
  table: PicturesTable;
  /** The pictures folder. */
  dir: string;
  /** The quota in bytes (`capture.max_mb`). */
  maxBytes: number;
  /** `store.retention_days`. */
  retentionDays: number;
  clock: Clock;
  log: Logger;
}

/**
 * Keeps the pictures folder within its quota and its retention: beyond
 * `capture.max_mb` the oldest pictures go, exported ones before unexported
 * ones; pictures older than `store.retention_days` go; so does the picture of
 * an alert or a verdict that is gone (retention, or pruned for disk space).
 * A row is deleted before its file, so a listed picture always has its file
 * (a file whose removal fails is logged; it holds disk space but no row).
 */
export class PictureKeeper {
  private bytes: number;
  private busy: Promise<void> | null = null;
  private again = false;
  readonly removed = new Map<RemoveReason, number>();
  /** Files whose removal failed (other than already gone). */
  unremovable = 0;

  constructor(private readonly deps: KeeperDeps) {
    this.bytes = deps.table.totalBytes();
  }

  /** Bytes of all kept pictures, as recorded. */
  get totalBytes(): number {
    return this.bytes;
  }

  /** A picture of `bytes` was recorded: over the quota, the oldest go (in the background). */
  kept(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes > this.deps.maxBytes) void this.run();
  }

  /** Resolves once no sweep is running. */
  settled(): Promise<void> {
    return this.busy ?? Promise.resolve();
  }

  /** Retention and orphans, then the quota; resolves when done. Runs one at a time (a call while one runs makes it go round again). */
  run(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return this.busy;
    }
    this.busy = (async () => {
      do {
        this.again = false;
        await this.sweep();
      } while (this.again);
    })().catch((err: unknown) => {
      this.deps.log.warn({ stage: 'capture', code: 'E_PICTURE', err: errorMessage(err) }, 'could not remove old pictures; will retry at the next picture or the next hour');
    }).finally(() => {
      this.busy = null;
    });
    return this.busy;
  }

  private async sweep(): Promise<void> {
    const { table, retentionDays, clock } = this.deps;
    await this.removeAll('retention', () => table.olderThan(retentionDays, clock.now(), CHUNK));
    await this.removeAll('orphan', () => table.orphans(CHUNK));
    await this.removeAll('quota', () => (this.bytes > this.deps.maxBytes ? overQuota(table.quotaOrder(CHUNK), this.bytes - this.deps.maxBytes) : []));
    this.bytes = table.totalBytes(); // rows removed by anyone else (a dataset tool) are counted again here
  }

  private async removeAll(reason: RemoveReason, next: () => PictureFile[]): Promise<void> {
    for (let batch = next(); batch.length > 0; batch = next()) {
      const n = this.deps.table.remove(batch.map((p) => p.id));
      this.removed.set(reason, (this.removed.get(reason) ?? 0) + n);
      for (const p of batch) {
        this.bytes -= p.bytes;
        try {
          await rm(join(this.deps.dir, p.file), { force: true });
        } catch (err) {
          this.unremovable++;
          this.deps.log.warn({ stage: 'capture', code: 'E_PICTURE', err: errorMessage(err), file: p.file }, 'could not remove a picture file; its row is gone');
        }
      }
      if (n === 0) return; // removed by someone else meanwhile: the next query would return the same
      await yieldToLoop();
    }
  }
}

/**
 * The first pictures of `ordered` (the quota's order) whose bytes add up to at
 * least `excess`: what must go to bring the folder back within its quota.
 *
 * @example
 * overQuota([{ id: 'a', file: 'a.jpg', bytes: 300 }, { id: 'b', file: 'b.jpg', bytes: 300 }], 200) // [a]
 */
export function overQuota(ordered: readonly PictureFile[], excess: number): PictureFile[] {
  const out: PictureFile[] = [];
  let freed = 0;
  for (const p of ordered) {
    if (freed >= excess) break;
    out.push(p);
    freed += p.bytes;
  }
  return out;
}
