import type { Db } from '../store/db.js';
import { STANDING_MISSED } from '../store/verdicts.js';
import type { Box } from '../types.js';
import { compareDefects, DEFAULT_MATCH, type Comparison, type JudgedDefect, type MatchRules, type SeenDefect } from './compare.js';
import type { ModelRegistry } from './registry.js';

interface RunRow { model_hash: string; active_hash: string; camera: string; started_at: number; ended_at: number; frames: number; skipped: number }

/** A candidate against the model active meanwhile, over the time their shadow runs covered. */
export interface ModelComparison extends Comparison {
  candidate_model: { hash: string; name?: string; version?: string };
  active_model: { hash: string; name?: string; version?: string };
  /** First start and last end of the runs, ms. */
  from: number;
  to: number;
  /** Frames the candidate inspected, and sampled frames it skipped because its lane was busy. */
  frames: number;
  skipped: number;
}

/**
 * Every candidate compared with the active model of its runs since `since`:
 * the active model's alerts (with their latest verdict) and the operators'
 * missed defects that fall inside a run of their camera, against the
 * candidate's shadow events.
 */
export function compareFromStore(registry: ModelRegistry, since: number, until = Number.MAX_SAFE_INTEGER, rules: MatchRules = DEFAULT_MATCH): ModelComparison[] {
  const db = registry.database;
  const runs = db.prepare<[number, number], RunRow>('SELECT * FROM shadow_runs WHERE ended_at >= ? AND started_at < ? ORDER BY started_at').all(since, until);
  const groups = new Map<string, RunRow[]>();
  for (const r of runs) {
    const key = `${r.model_hash}/${r.active_hash}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const result: ModelComparison[] = [];
  for (const group of groups.values()) {
    const { model_hash: candidateHash, active_hash: activeHash } = group[0];
    const active = registry.get(activeHash);
    const inside = (camera: string, ts: number) => ts >= since && ts < until && group.some((r) => r.camera === camera && ts >= r.started_at && ts <= r.ended_at);
    const from = Math.min(...group.map((r) => r.started_at));
    const to = Math.max(...group.map((r) => r.ended_at));
    const alerts = activeAlerts(db, from, to, active?.version).filter((a) => inside(a.camera, a.ts));
    const missed = missedDefects(db, from, to).filter((m) => inside(m.camera, m.ts));
    const shadow = db.prepare<[string, string, number, number], { camera: string; class_name: string; ts: number; box_x: number; box_y: number; box_w: number; box_h: number }>(
      'SELECT camera, class_name, ts, box_x, box_y, box_w, box_h FROM shadow_events WHERE model_hash = ? AND active_hash = ? AND ts >= ? AND ts < ? ORDER BY ts')
      .all(candidateHash, activeHash, since, until)
      .map((e): SeenDefect => ({ camera: e.camera, className: e.class_name, ts: e.ts, box: { x: e.box_x, y: e.box_y, w: e.box_w, h: e.box_h } }));
    const candidate = registry.get(candidateHash);
    result.push({
      candidate_model: { hash: candidateHash, ...(candidate ? { name: candidate.name, version: candidate.version } : {}) },
      active_model: { hash: activeHash, ...(active ? { name: active.name, version: active.version } : {}) },
      from, to,
      frames: group.reduce((n, r) => n + r.frames, 0),
      skipped: group.reduce((n, r) => n + r.skipped, 0),
      ...compareDefects(alerts, shadow, missed, rules),
    });
  }
  return result;
}

/** Alerts of the active model (by its version, when known) with their latest verdict. */
function activeAlerts(db: Db, from: number, to: number, version: string | undefined): JudgedDefect[] {
  const rows = db.prepare<[number, number], { camera: string; class_name: string; ts: number; box_x: number; box_y: number; box_w: number; box_h: number; model_version: string | null; verdict: string | null }>(
    `SELECT a.camera, a.class_name, a.ts, a.box_x, a.box_y, a.box_w, a.box_h, a.model_version,
       (SELECT v.verdict FROM verdicts v WHERE v.alert_id = a.id ORDER BY v.pos DESC LIMIT 1) AS verdict
     FROM alerts a WHERE a.ts >= ? AND a.ts <= ? ORDER BY a.ts`).all(from, to);
  return rows.filter((r) => version === undefined || r.model_version === null || r.model_version === version).map((r) => ({
    camera: r.camera, className: r.class_name, ts: r.ts, box: { x: r.box_x, y: r.box_y, w: r.box_w, h: r.box_h },
    ...(r.verdict === 'confirmed' || r.verdict === 'false_alarm' ? { verdict: r.verdict } : {}),
  }));
}

/** Defects operators marked as missed (and did not withdraw), at the time of the frame they drew on. */
function missedDefects(db: Db, from: number, to: number): SeenDefect[] {
  return db.prepare<[], { camera: string; class_name: string; json: string }>(`SELECT camera, class_name, json FROM verdicts WHERE ${STANDING_MISSED}`).all()
    .map((r) => {
      const v = JSON.parse(r.json) as { box: Box; frame: { ts: number } };
      return { camera: r.camera, className: r.class_name, ts: v.frame.ts, box: v.box };
    })
    .filter((m) => m.ts >= from && m.ts <= to);
}

/** The comparison as a table for people: one line per camera and class, then precision and recall per model. */
export function formatComparisons(list: readonly ModelComparison[]): string {
  if (list.length === 0) return 'no shadow run in this period (start one with linesight models shadow VERSION or model.candidate)';
  const pct = (v: number | null) => (v === null ? '   –' : `${(v * 100).toFixed(0).padStart(3)}%`);
  const out: string[] = [];
  for (const c of list) {
    out.push(`candidate ${c.candidate_model.version ?? '?'} (${c.candidate_model.hash.slice(0, 12)}) vs active ${c.active_model.version ?? '?'} (${c.active_model.hash.slice(0, 12)}), `
      + `${new Date(c.from).toISOString()} – ${new Date(c.to).toISOString()}, ${c.frames} frames inspected, ${c.skipped} skipped (lane busy)`);
    out.push(`  ${'camera'.padEnd(12)} ${'class'.padEnd(14)} ${'both'.padStart(6)} ${'only active'.padStart(12)} ${'only candidate'.padStart(15)}`);
    for (const r of c.rows) out.push(`  ${r.camera.padEnd(12)} ${r.className.padEnd(14)} ${String(r.both).padStart(6)} ${String(r.onlyActive).padStart(12)} ${String(r.onlyCandidate).padStart(15)}`);
    if (c.rows.length === 0) out.push('  (no defect found by either model)');
    out.push(`  verdicts   active:    precision ${pct(c.active.precision)} recall ${pct(c.active.recall)} (${c.active.tp} confirmed, ${c.active.fp} false alarms, ${c.active.fn} missed)`);
    out.push(`             candidate: precision ${pct(c.candidate.precision)} recall ${pct(c.candidate.recall)} (${c.candidate.tp} right, ${c.candidate.fp} wrong, ${c.candidate.fn} missed; ${c.candidateUnjudged} not judged)`);
  }
  return out.join('\n');
}
