import type { Db } from './db.js';

export type CounterName = 'outbox_depth' | 'outbox_dropped' | 'outbox_rejected';

/** Persistent counters: they live in the same transactions as the rows they count, so they survive restarts exactly. */
export class Counters {
  private readonly getStmt;
  private readonly addStmt;

  constructor(db: Db) {
    this.getStmt = db.prepare<[CounterName], { value: number }>('SELECT value FROM counters WHERE name = ?');
    this.addStmt = db.prepare<[number, CounterName]>('UPDATE counters SET value = value + ? WHERE name = ?');
  }

  get(name: CounterName): number {
    return this.getStmt.get(name)?.value ?? 0;
  }

  add(name: CounterName, delta: number): void {
    if (delta !== 0) this.addStmt.run(delta, name);
  }
}
