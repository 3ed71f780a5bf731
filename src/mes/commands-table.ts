import type { ModelRef } from '../store/types.js';
import type { Db } from '../store/db.js';
import type { DefectEvent } from '../types.js';

/** A command as stored: the response is null while it runs. */
export interface StoredCommand {
  requestId: string;
  command: string;
  body: string;
  response: string | null;
  sent: boolean;
}

/** An alert of the history, as the payload builder takes it. */
export interface HistoryAlert {
  seq: number;
  event: DefectEvent;
  model?: ModelRef;
}

interface CommandRow {
  request_id: string;
  command: string;
  body: string;
  response: string | null;
  sent_at: number | null;
}

const toCommand = (r: CommandRow): StoredCommand => ({ requestId: r.request_id, command: r.command, body: r.body, response: r.response, sent: r.sent_at !== null });

/**
 * The commands received, by `request_id` (what makes them idempotent), and the
 * reads a replay makes of the alert history.
 */
export class CommandsTable {
  private readonly getStmt;
  private readonly beginStmt;
  private readonly answerStmt;
  private readonly sentStmt;
  private readonly unsentStmt;
  private readonly runningStmt;
  private readonly purgeStmt;
  private readonly lastSeqStmt;
  private readonly historyStmt;

  constructor(db: Db) {
    this.getStmt = db.prepare<[string], CommandRow>('SELECT request_id, command, body, response, sent_at FROM mes_commands WHERE request_id = ?');
    this.beginStmt = db.prepare<[string, string, string, string | null, number, number | null]>(
      'INSERT INTO mes_commands (request_id, command, body, response, created_at, answered_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.answerStmt = db.prepare<[string, number, string]>('UPDATE mes_commands SET response = ?, answered_at = ? WHERE request_id = ?');
    this.sentStmt = db.prepare<[number, string]>('UPDATE mes_commands SET sent_at = ? WHERE request_id = ? AND sent_at IS NULL');
    this.unsentStmt = db.prepare<[], CommandRow>(
      'SELECT request_id, command, body, response, sent_at FROM mes_commands WHERE response IS NOT NULL AND sent_at IS NULL ORDER BY answered_at',
    );
    this.runningStmt = db.prepare<[], CommandRow>('SELECT request_id, command, body, response, sent_at FROM mes_commands WHERE response IS NULL ORDER BY created_at');
    // A command still running is kept whatever its age: it is resumed, and answered, after a restart.
    this.purgeStmt = db.prepare<[number]>('DELETE FROM mes_commands WHERE created_at < ? AND response IS NOT NULL');
    this.lastSeqStmt = db.prepare<[string], { seq: number }>('SELECT seq FROM camera_seq WHERE camera = ?');
    this.historyStmt = db.prepare<[string, number, number], { seq: number; json: string }>(
      'SELECT seq, json FROM alerts WHERE camera = ? AND seq BETWEEN ? AND ? ORDER BY seq',
    );
  }

  get(requestId: string): StoredCommand | undefined {
    const row = this.getStmt.get(requestId);
    return row && toCommand(row);
  }

  /** Records a command; with a response it is settled at once (a refusal), else it runs until `answer`. */
  insert(requestId: string, command: string, body: string, response: string | null, now: number): void {
    this.beginStmt.run(requestId, command, body, response, now, response === null ? null : now);
  }

  answer(requestId: string, response: string, now: number): void {
    this.answerStmt.run(response, now, requestId);
  }

  markSent(requestId: string, at: number): void {
    this.sentStmt.run(at, requestId);
  }

  /** Settled commands whose response the broker has not taken yet, oldest first. */
  unsent(): StoredCommand[] {
    return this.unsentStmt.all().map(toCommand);
  }

  /** Commands accepted and not settled (linesight stopped while they ran). */
  running(): StoredCommand[] {
    return this.runningStmt.all().map(toCommand);
  }

  purge(cutoff: number): number {
    return this.purgeStmt.run(cutoff).changes;
  }

  /** The highest `seq` the camera has given; 0 when it has given none. */
  lastSeq(camera: string): number {
    return this.lastSeqStmt.get(camera)?.seq ?? 0;
  }

  /** The alerts of `camera` with `from ≤ seq ≤ to` still in the history, by seq. */
  history(camera: string, from: number, to: number): HistoryAlert[] {
    return this.historyStmt.all(camera, from, to).map((r) => {
      const stored = JSON.parse(r.json) as DefectEvent & { seq: number; model?: ModelRef };
      const { seq: _seq, model, ...event } = stored;
      return { seq: r.seq, event, ...(model ? { model } : {}) };
    });
  }
}
