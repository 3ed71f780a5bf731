import { systemClock, type Clock, type Timer } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { ProductionContext } from '../types.js';
import { ContextHistory } from './history.js';
import { parseContext } from './message.js';
import { ContextTimeline } from './timeline.js';

/** Inbound MQTT message, as the publisher's `subscribe` hands it over. */
export interface ContextMessage {
  topic: string;
  payload: Buffer;
  retained: boolean;
}

export interface LineContextOptions {
  /** A connection of its own to the line's database (migrated). Closed by `close()`. */
  db: Db;
  log: Logger;
  clock?: Clock;
  /** How often rows written by `linesight context set` are looked for, ms (default 1000). */
  pollMs?: number;
}

/** Distinct faults remembered for "logged once"; past it, new faults are logged again from an empty memory. */
const MAX_FAULTS = 256;
/** Changes loaded at start: enough to stamp events captured before a restart and recorded after it. */
const LOADED = 64;

/**
 * The line's production context: the history in SQLite, the recent changes in
 * memory for stamping. Fed by the MES's retained messages (`message()`) and by
 * rows the command line writes (polled); survives restarts through the table.
 * A malformed message is ignored (the previous context stays) and logged once
 * per distinct fault.
 */
export class LineContext {
  private readonly history: ContextHistory;
  private readonly timeline = new ContextTimeline();
  private readonly faults = new Set<string>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly timer: Timer;
  private lastId = 0;
  private closed = false;

  constructor(private readonly opts: LineContextOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log.child({ stage: 'context' });
    this.history = new ContextHistory(opts.db);
    for (const row of this.history.latest(LOADED)) this.timeline.add(row);
    this.lastId = this.history.maxId();
    const now = this.timeline.latest();
    if (now) this.log.info({ context: now.context }, 'production context restored from the database');
    this.timer = this.clock.setInterval(() => this.poll(), opts.pollMs ?? 1000);
  }

  /** The context in force at `ts` (a frame's capture time, ms since epoch). */
  at(ts: number): ProductionContext | undefined {
    return this.timeline.at(ts);
  }

  /** The context in force now. */
  current(): ProductionContext | undefined {
    return this.timeline.at(this.clock.now());
  }

  /** A message on the context topic: validated, stored, in force from its `ts`. */
  message(msg: ContextMessage): void {
    const parsed = parseContext(msg.payload);
    if (!parsed.ok) {
      this.fault(msg.topic, parsed.fault);
      return;
    }
    try {
      const stored = this.history.record(parsed.context, parsed.ts, this.clock.now(), 'mqtt');
      this.adopt(parsed.ts, parsed.context, stored, 'mqtt');
    } catch (err) {
      // Not stored: still stamped while the process lives, so alerts say what the MES said.
      this.log.error({ code: 'E_STORE', err: errorMessage(err) }, `could not store the production context: ${errorMessage(err)}; it is in force until linesight stops`);
      this.adopt(parsed.ts, parsed.context, true, 'mqtt');
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clock.clearInterval(this.timer);
    this.opts.db.close();
  }

  /** Rows another process (the command line) wrote since the last look. */
  poll(): void {
    if (this.closed) return;
    let rows;
    try {
      rows = this.history.since(this.lastId);
    } catch (err) {
      this.fault('database', `could not read context changes: ${errorMessage(err)}`);
      return;
    }
    for (const row of rows) {
      this.lastId = Math.max(this.lastId, row.id);
      this.adopt(row.ts, row.context, true, row.source);
    }
  }

  private adopt(ts: number, context: ProductionContext, isNew: boolean, source: string): void {
    if (!this.timeline.add({ ts, context }) || !isNew) return;
    this.log.info({ context, source }, `production context${context.lot ? ` lot ${context.lot}` : ''}${context.order ? ` order ${context.order}` : ''} in force from ${context.ts}`);
  }

  private fault(topic: string, fault: string): void {
    if (this.faults.has(fault)) return;
    if (this.faults.size >= MAX_FAULTS) this.faults.clear();
    this.faults.add(fault);
    this.log.warn({ code: 'E_CONTEXT', topic, fault },
      `context message on ${topic} ignored: ${fault}; the previous context stays (this fault is logged once)`);
  }
}
