import { iou } from '../events/geometry.js';
import type { Box } from '../types.js';

/** A defect one model confirmed (an active model's alert, a candidate's shadow event) or an operator marked as missed. */
export interface SeenDefect {
  camera: string;
  className: string;
  /** Capture time of the confirming frame (the frame drawn on, for a missed defect), ms. */
  ts: number;
  box: Box;
}

/** An active model's alert with its operator verdict, when it has one. */
export interface JudgedDefect extends SeenDefect {
  verdict?: 'confirmed' | 'false_alarm';
}

export interface MatchRules {
  /** Most time between the two confirmations of one defect, ms. */
  windowMs: number;
  /** Least IoU of the two boxes. */
  minIou: number;
}

/** Two models on the same frames are given a defect's confirmation up to 3 s apart (a sampled share sees fewer frames) and loosely overlapping boxes. */
export const DEFAULT_MATCH: MatchRules = { windowMs: 3000, minIou: 0.3 };

export interface CompareRow {
  camera: string;
  className: string;
  /** Defects both models found. */
  both: number;
  onlyActive: number;
  onlyCandidate: number;
}

/** A model against the operators' verdicts: `tp` confirmed, `fp` false alarms, `fn` missed defects; null where nothing was judged. */
export interface VerdictScore {
  tp: number;
  fp: number;
  fn: number;
  precision: number | null;
  recall: number | null;
}

export interface Comparison {
  rows: CompareRow[];
  active: VerdictScore;
  candidate: VerdictScore;
  /** Candidate defects no verdict speaks to (not an active alert, not a missed defect): neither right nor wrong yet. */
  candidateUnjudged: number;
}

function matches(a: SeenDefect, b: SeenDefect, rules: MatchRules): boolean {
  return a.camera === b.camera && a.className === b.className && Math.abs(a.ts - b.ts) <= rules.windowMs && iou(a.box, b.box) >= rules.minIou;
}

/** Pairs each of `from` with the closest-in-time unpaired one of `to` that matches; returns the index in `to` per `from` (-1: none). */
function pair(from: readonly SeenDefect[], to: readonly SeenDefect[], rules: MatchRules): number[] {
  const taken = new Set<number>();
  const order = from.map((_, i) => i).sort((i, j) => from[i].ts - from[j].ts);
  const result = new Array<number>(from.length).fill(-1);
  for (const i of order) {
    let best = -1;
    for (let j = 0; j < to.length; j++) {
      if (taken.has(j) || !matches(from[i], to[j], rules)) continue;
      if (best < 0 || Math.abs(to[j].ts - from[i].ts) < Math.abs(to[best].ts - from[i].ts)) best = j;
    }
    if (best >= 0) {
      taken.add(best);
      result[i] = best;
    }
  }
  return result;
}

const ratio = (a: number, b: number) => (a + b === 0 ? null : a / (a + b));
const score = (tp: number, fp: number, fn: number): VerdictScore => ({ tp, fp, fn, precision: ratio(tp, fp), recall: ratio(tp, fn) });

/**
 * The active model against a candidate that saw the same frames, at the level
 * of defects: per camera and class, found by both, by the active model only,
 * by the candidate only. Against the operators' verdicts: the active model's
 * confirmed alerts are true, its false alarms false, missed defects are what
 * it missed; the candidate is right where it matches a confirmed alert or a
 * missed defect, wrong where it matches a false alarm, and misses the
 * confirmed alerts and missed defects it does not match.
 */
export function compareDefects(active: readonly JudgedDefect[], candidate: readonly SeenDefect[], missed: readonly SeenDefect[], rules: MatchRules = DEFAULT_MATCH): Comparison {
  const toActive = pair(candidate, active, rules);
  const matchedActive = new Set(toActive.filter((j) => j >= 0));
  const rows = new Map<string, CompareRow>();
  const row = (d: SeenDefect) => {
    const key = `${d.camera}\u0000${d.className}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { camera: d.camera, className: d.className, both: 0, onlyActive: 0, onlyCandidate: 0 }));
    return r;
  };
  candidate.forEach((d, i) => (toActive[i] >= 0 ? row(d).both++ : row(d).onlyCandidate++));
  active.forEach((d, j) => {
    if (!matchedActive.has(j)) row(d).onlyActive++;
  });

  const confirmed = active.filter((a) => a.verdict === 'confirmed').length;
  const falseAlarms = active.filter((a) => a.verdict === 'false_alarm').length;
  const unpairedCandidates = candidate.map((d, i) => ({ d, i })).filter(({ i }) => toActive[i] < 0);
  const toMissed = pair(unpairedCandidates.map((c) => c.d), missed, rules);
  let tp = 0;
  let fp = 0;
  let unjudged = 0;
  candidate.forEach((_, i) => {
    const j = toActive[i];
    if (j < 0) return;
    if (active[j].verdict === 'confirmed') tp++;
    else if (active[j].verdict === 'false_alarm') fp++;
    else unjudged++;
  });
  const foundMissed = toMissed.filter((j) => j >= 0).length;
  unjudged += unpairedCandidates.length - foundMissed;
  tp += foundMissed;
  const confirmedFound = candidate.filter((_, i) => toActive[i] >= 0 && active[toActive[i]].verdict === 'confirmed').length;
  const fn = (confirmed - confirmedFound) + (missed.length - foundMissed);
  return {
    rows: [...rows.values()].sort((a, b) => a.camera.localeCompare(b.camera) || a.className.localeCompare(b.className)),
    active: score(confirmed, falseAlarms, missed.length),
    candidate: score(tp, fp, fn),
    candidateUnjudged: unjudged,
  };
}
