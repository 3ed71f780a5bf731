import { MINUTE_MS, isoTime } from '../clock.js';
import type { Db } from '../store/db.js';
import type { ProductionContext } from '../types.js';
import { ContextHistory } from './history.js';
import { ContextTimeline } from './timeline.js';

/** What `linesight alerts --by` groups by. */
export type GroupBy = 'lot' | 'order' | 'recipe';

/** One group of the report: frames inspected under it and its alerts per class. */
export interface GroupRow {
  /** The lot, order or recipe; null for "none in force". */
  key: string | null;
  framesInspected: number;
  alerts: number;
  classes: Record<string, number>;
}

/**
 * Alerts and inspected frames per lot, order or recipe since `since`. Alerts
 * are counted by the stamp they carry (the context or recipe in force at their
 * frame's capture time). Inspected frames come from the per-minute statistics,
 * which are counted per camera and minute, not per frame: each minute is
 * attributed whole to what was in force at its middle, so a change within a
 * minute moves at most that minute's frames to a neighbouring group.
 */
export function groupReport(db: Db, by: GroupBy, since: number, now: number): GroupRow[] {
  const column = { lot: 'context_lot', order: 'context_order', recipe: 'recipe' }[by];
  const rows = new Map<string | null, GroupRow>();
  const row = (key: string | null) => {
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { key, framesInspected: 0, alerts: 0, classes: {} }));
    return r;
  };
  const counts = db.prepare<[number], { key: string | null; class_name: string; n: number }>(
    `SELECT ${column} AS key, class_name, COUNT(*) AS n FROM alerts WHERE ts >= ? GROUP BY ${column}, class_name`,
  ).all(since);
  for (const c of counts) {
    const r = row(c.key);
    r.alerts += c.n;
    r.classes[c.class_name] = c.n;
  }
  const keyAt = by === 'recipe' ? recipeAt(db, since, now) : contextAt(db, by, since, now);
  const minutes = db.prepare<[number], { minute: number; frames: number }>(
    'SELECT minute, SUM(frames_inspected) AS frames FROM aggregates WHERE minute >= ? GROUP BY minute ORDER BY minute',
  ).all(since - (since % MINUTE_MS));
  for (const m of minutes) row(keyAt(m.minute + MINUTE_MS / 2)).framesInspected += m.frames;
  return [...rows.values()].sort((a, b) => (a.key ?? '').localeCompare(b.key ?? ''));
}

function contextAt(db: Db, by: 'lot' | 'order', since: number, now: number): (ts: number) => string | null {
  const timeline = new ContextTimeline(Number.MAX_SAFE_INTEGER);
  for (const r of new ContextHistory(db).inForce(since, now + 1)) timeline.add(r);
  return (ts) => timeline.at(ts)?.[by] ?? null;
}

/** The recipes applied before `until`, by when they took effect (a decision's time, or the request's for one applied at once). */
function appliedRecipes(db: Db, until: number): Array<{ at: number; recipe: string; requested_by: string | null }> {
  return db.prepare<[number], { at: number; recipe: string; requested_by: string | null }>(
    `SELECT COALESCE(decided_at, received_at) AS at, recipe, requested_by FROM recipe_changes
     WHERE outcome = 'applied' AND COALESCE(decided_at, received_at) < ? ORDER BY at, id`,
  ).all(until);
}

function recipeAt(db: Db, since: number, now: number): (ts: number) => string | null {
  const applied = appliedRecipes(db, now + 1);
  return (ts) => {
    let current: string | null = null;
    for (const a of applied) if (a.at <= ts) current = a.recipe;
    return current;
  };
}

/** One recipe switch as the nightly upload carries it. */
export interface RecipeSwitch {
  ts: string;
  recipe: string;
  requested_by?: string;
}

/**
 * The production timeline of [from, to) as the nightly upload carries it: the
 * contexts in force (the one at `from`, then every change, each as received,
 * with its own `ts`) and the recipes applied (the one active at `from`, then
 * every switch). With them the data team can attribute each camera-minute to
 * its order, lot and recipe.
 */
export function productionTimeline(db: Db, from: number, to: number): { context_changes: ProductionContext[]; recipe_changes: RecipeSwitch[] } {
  const context_changes = new ContextHistory(db).inForce(from, to).map((r) => r.context);
  const applied = appliedRecipes(db, to);
  let inForceAtStart = 0; // the last one applied at or before `from`: the recipe of the period's first minutes
  applied.forEach((a, i) => { if (a.at <= from) inForceAtStart = i; });
  const recipe_changes = applied.slice(inForceAtStart).map((a) => ({ ts: isoTime(a.at), recipe: a.recipe, ...(a.requested_by === null ? {} : { requested_by: a.requested_by }) }));
  return { context_changes, recipe_changes };
}

/** The report as `linesight alerts --by` prints it: one line per group, then the classes. */
export function formatReport(rows: readonly GroupRow[], by: GroupBy): string {
  if (rows.length === 0) return `no alerts and no statistics in the period`;
  const width = Math.max(by.length, ...rows.map((r) => (r.key ?? '(none)').length));
  const lines = [`${by.padEnd(width)}  frames_inspected  alerts  per class`];
  for (const r of rows) {
    const classes = Object.entries(r.classes).sort(([a], [b]) => a.localeCompare(b)).map(([c, n]) => `${c}=${n}`).join(' ');
    lines.push(`${(r.key ?? '(none)').padEnd(width)}  ${String(r.framesInspected).padStart(16)}  ${String(r.alerts).padStart(6)}  ${classes}`);
  }
  return lines.join('\n');
}
