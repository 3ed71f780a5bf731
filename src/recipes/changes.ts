import type { Db } from '../store/db.js';

export type RecipeSource = 'mqtt' | 'cli' | 'start';
export type RecipeOutcome = 'applied' | 'refused';

export interface RecipeChange {
  id: number;
  receivedAt: number;
  source: RecipeSource;
  recipe: string;
  requestedBy?: string;
  /** The request as received (JSON). */
  request: string;
  /** Undefined while a request of the command line waits for the line. */
  outcome?: RecipeOutcome;
  reason?: string;
  decidedAt?: number;
}

interface Row {
  id: number;
  received_at: number;
  source: RecipeSource;
  recipe: string;
  requested_by: string | null;
  request: string;
  outcome: RecipeOutcome | null;
  reason: string | null;
  decided_at: number | null;
}

const COLUMNS = 'id, received_at, source, recipe, requested_by, request, outcome, reason, decided_at';

/**
 * Recipe requests and what became of them (table `recipe_changes`): the last
 * applied one is the active recipe, across restarts. `linesight recipe set`
 * writes a request without an outcome; the running line handles it.
 */
export class RecipeChanges {
  private readonly insert;
  private readonly decideStmt;
  private readonly lastApplied;
  private readonly lastOfSource;
  private readonly pendingStmt;
  private readonly byId;

  constructor(db: Db) {
    this.insert = db.prepare<{ receivedAt: number; source: RecipeSource; recipe: string; requestedBy: string | null; request: string; outcome: RecipeOutcome | null; reason: string | null; decidedAt: number | null }>(
      `INSERT INTO recipe_changes (received_at, source, recipe, requested_by, request, outcome, reason, decided_at)
       VALUES (@receivedAt, @source, @recipe, @requestedBy, @request, @outcome, @reason, @decidedAt)`,
    );
    this.decideStmt = db.prepare<[RecipeOutcome, string | null, number, number]>('UPDATE recipe_changes SET outcome = ?, reason = ?, decided_at = ? WHERE id = ? AND outcome IS NULL');
    this.lastApplied = db.prepare<[], Row>(`SELECT ${COLUMNS} FROM recipe_changes WHERE outcome = 'applied' ORDER BY id DESC LIMIT 1`);
    this.lastOfSource = db.prepare<[RecipeSource], Row>(`SELECT ${COLUMNS} FROM recipe_changes WHERE source = ? ORDER BY id DESC LIMIT 1`);
    this.pendingStmt = db.prepare<[], Row>(`SELECT ${COLUMNS} FROM recipe_changes WHERE outcome IS NULL ORDER BY id`);
    this.byId = db.prepare<[number], Row>(`SELECT ${COLUMNS} FROM recipe_changes WHERE id = ?`);
  }

  /** Writes a request (decided when `outcome` is given); returns its id. */
  add(c: Omit<RecipeChange, 'id'>): number {
    return Number(this.insert.run({
      receivedAt: c.receivedAt, source: c.source, recipe: c.recipe, requestedBy: c.requestedBy ?? null, request: c.request,
      outcome: c.outcome ?? null, reason: c.reason ?? null, decidedAt: c.decidedAt ?? null,
    }).lastInsertRowid);
  }

  decide(id: number, outcome: RecipeOutcome, reason: string | undefined, at: number): void {
    this.decideStmt.run(outcome, reason ?? null, at, id);
  }

  /** The active recipe: the last one applied. */
  active(): RecipeChange | undefined {
    const row = this.lastApplied.get();
    return row && toChange(row);
  }

  /** The newest request from `source` (a retained MQTT request arriving again equals it). */
  lastFrom(source: RecipeSource): RecipeChange | undefined {
    const row = this.lastOfSource.get(source);
    return row && toChange(row);
  }

  /** Requests of the command line not handled yet, oldest first. */
  pending(): RecipeChange[] {
    return this.pendingStmt.all().map(toChange);
  }

  get(id: number): RecipeChange | undefined {
    const row = this.byId.get(id);
    return row && toChange(row);
  }
}

function toChange(r: Row): RecipeChange {
  return {
    id: r.id, receivedAt: r.received_at, source: r.source, recipe: r.recipe, request: r.request,
    ...(r.requested_by === null ? {} : { requestedBy: r.requested_by }),
    ...(r.outcome === null ? {} : { outcome: r.outcome }),
    ...(r.reason === null ? {} : { reason: r.reason }),
    ...(r.decided_at === null ? {} : { decidedAt: r.decided_at }),
  };
}
