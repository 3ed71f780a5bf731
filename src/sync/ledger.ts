import { ACKED_UNTIL, PLANNED_UNTIL } from '../store/aggregates.js';
import type { Db } from '../store/db.js';
import type { Batch } from './batch.js';
import type { LastRun } from './types.js';

const LAST_RUN = 'last_run';
const LAST_SUCCESS = 'last_success';

interface BatchRow {
  key: string;
  period_start: number;
  period_end: number;
  cameras: string;
  row_count: number;
  body: Buffer;
  attempts: number;
}

/**
 * The upload's memory, in the same SQLite file as the records: the batch being
 * sent (its exact bytes, so a restart re-sends the same thing under the same
 * key), how far records have been packed into batches, and how far the cloud
 * has acknowledged them.
 */
export class SyncLedger {
  private readonly getState;
  private readonly setState;
  private readonly oldestPending;
  private readonly countPending;
  private readonly insert;
  private readonly done;
  private readonly attempt;
  private readonly purge;
  private readonly planTx: { immediate: (batch: Batch, expectedFrom: number | undefined, now: number) => boolean };
  private readonly doneTx: (key: string, periodEnd: number, answer: number, now: number) => void;

  constructor(db: Db) {
    this.getState = db.prepare<[string], { value: string }>('SELECT value FROM sync_state WHERE name = ?');
    this.setState = db.prepare<[string, string]>('INSERT OR REPLACE INTO sync_state (name, value) VALUES (?, ?)');
    this.oldestPending = db.prepare<[], BatchRow>(
      "SELECT key, period_start, period_end, cameras, row_count, body, attempts FROM sync_batches WHERE status = 'pending' ORDER BY period_start LIMIT 1",
    );
    this.countPending = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM sync_batches WHERE status = 'pending'");
    this.insert = db.prepare(
      `INSERT INTO sync_batches (key, period_start, period_end, cameras, row_count, body, status, created_at)
       VALUES (@key, @periodStart, @periodEnd, @cameras, @rowCount, @body, 'pending', @now)`,
    );
    this.done = db.prepare<[number, number, string]>(
      "UPDATE sync_batches SET status = 'done', body = NULL, answer = ?, done_at = ?, last_error = NULL WHERE key = ?",
    );
    this.attempt = db.prepare<[string | null, string]>('UPDATE sync_batches SET attempts = attempts + 1, last_error = ? WHERE key = ?');
    this.purge = db.prepare<[number]>("DELETE FROM sync_batches WHERE status = 'done' AND done_at < ?");
    // The batch and the new planning mark commit together: a crash leaves both or neither. The check
    // makes a second process (`linesight sync --now` next to the service) planning at the same moment back off.
    this.planTx = db.transaction((batch: Batch, expectedFrom: number | undefined, now: number) => {
      if (this.plannedUntil() !== expectedFrom || this.countPending.get()?.n !== 0) return false;
      this.insert.run({ ...batch, cameras: JSON.stringify(batch.cameras), now });
      this.setState.run(PLANNED_UNTIL, String(batch.periodEnd));
      return true;
    });
    this.doneTx = db.transaction((key: string, periodEnd: number, answer: number, now: number) => {
      this.done.run(answer, now, key);
      if (this.countPending.get()?.n === 0) this.setState.run(ACKED_UNTIL, String(periodEnd));
    });
  }

  /** The oldest batch not yet acknowledged, with its stored bytes. */
  pending(): Batch | undefined {
    const row = this.oldestPending.get();
    if (!row) return undefined;
    return {
      key: row.key,
      periodStart: row.period_start,
      periodEnd: row.period_end,
      cameras: JSON.parse(row.cameras) as string[],
      rowCount: row.row_count,
      body: row.body,
    };
  }

  pendingCount(): number {
    return this.countPending.get()?.n ?? 0;
  }

  /** End of the last batch planned; records before it are in some batch. */
  plannedUntil(): number | undefined {
    const v = this.getState.get(PLANNED_UNTIL)?.value;
    return v === undefined ? undefined : Number(v);
  }

  /** End of the acknowledged prefix; records before it are in the cloud. */
  acknowledgedUntil(): number | undefined {
    const v = this.getState.get(ACKED_UNTIL)?.value;
    return v === undefined ? undefined : Number(v);
  }

  /**
   * Persists a new batch, planned from `expectedFrom`, before its first attempt.
   * False when someone else planned meanwhile (the caller looks again).
   */
  plan(batch: Batch, expectedFrom: number | undefined, now: number): boolean {
    return this.planTx.immediate(batch, expectedFrom, now);
  }

  /** The cloud (or the file system) has it: drop the bytes, move the acknowledged watermark. */
  markDone(batch: Batch, answer: number, now: number): void {
    this.doneTx(batch.key, batch.periodEnd, answer, now);
  }

  recordAttempt(key: string, error?: string): void {
    this.attempt.run(error ?? null, key);
  }

  /** Forgets settled batches whose record is older than `before`. */
  purgeDone(before: number): number {
    return this.purge.run(before).changes;
  }

  lastRun(): LastRun | undefined {
    const v = this.getState.get(LAST_RUN)?.value;
    return v === undefined ? undefined : (JSON.parse(v) as LastRun);
  }

  lastSuccessAt(): number | undefined {
    const v = this.getState.get(LAST_SUCCESS)?.value;
    return v === undefined ? undefined : Number(v);
  }

  saveRun(run: LastRun): void {
    this.setState.run(LAST_RUN, JSON.stringify(run));
    if (run.ok) this.setState.run(LAST_SUCCESS, String(run.finishedAt));
  }
}
