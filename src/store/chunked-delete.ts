import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Db } from './db.js';

/** A prepared `DELETE … WHERE … < ? … LIMIT ?`: removes at most `limit` rows older than `cutoff`. */
export interface ChunkStatement {
  run(cutoff: number, limit: number): { changes: number };
}

/**
 * Runs `statement` until fewer than `chunk` rows go, yielding to the event loop
 * between chunks so a large purge never stalls the pipeline or the outbox
 * writer for long. Stops when the connection closes meanwhile. Resolves to the
 * number of rows removed.
 */
export async function deleteInChunks(db: Db, statement: ChunkStatement, cutoff: number, chunk = 500): Promise<number> {
  let total = 0;
  for (;;) {
    const { changes } = statement.run(cutoff, chunk);
    total += changes;
    if (changes < chunk || !db.open) return total;
    await yieldToLoop();
    if (!db.open) return total;
  }
}
