import { LinesightError } from '../errors.js';

/**
 * Shift boundaries: wall times ("06:00") in an IANA time zone turned into
 * instants (ms since epoch), with daylight saving followed through `Intl`.
 * A start time that does not exist on a day (inside the hour skipped in
 * spring) moves forward by the gap (02:30 → 03:30); one that happens twice
 * (the hour repeated in autumn) is its first occurrence. Both are the
 * "compatible" rules of RFC 5545 and Temporal.
 */
export interface ShiftPlan {
  /** Minutes after local midnight, sorted, each once. */
  starts: readonly number[];
  timeZone: string;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** `["14:00", "06:00"]` → a plan with starts [360, 840]. Throws E_ARGUMENT for a time that is not "HH:MM". */
export function shiftPlan(shifts: readonly string[], timeZone: string): ShiftPlan {
  const starts = shifts.map((s) => {
    const m = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(s);
    if (!m) throw new LinesightError('E_ARGUMENT', `Expected a shift start time "HH:MM" but received ${JSON.stringify(s)}`);
    return Number(m[1]) * 60 + Number(m[2]);
  });
  return { starts: [...new Set(starts)].sort((a, b) => a - b), timeZone };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The local calendar fields of `instant` in `timeZone`. */
function localFields(instant: number, timeZone: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instant))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year, mo: parts.month, d: parts.day, h: parts.hour, mi: parts.minute, s: parts.second };
}

/** Local time minus UTC at `instant`, ms (Berlin in summer: +7 200 000). */
export function zoneOffset(instant: number, timeZone: string): number {
  const f = localFields(instant, timeZone);
  const whole = Math.floor(instant / 1000) * 1000;
  return Date.UTC(f.y, f.mo - 1, f.d, f.h, f.mi, f.s) - whole;
}

/** The instant of local wall time `minutes` after midnight of local date y-mo-d (month 1–12) in `timeZone`. */
export function localInstant(y: number, mo: number, d: number, minutes: number, timeZone: string): number {
  const wall = Date.UTC(y, mo - 1, d) + minutes * 60_000;
  // Transitions are months apart: the offsets half a day either side are the two that can apply.
  const before = zoneOffset(wall - 12 * HOUR_MS, timeZone);
  const after = zoneOffset(wall + 12 * HOUR_MS, timeZone);
  const valid = [...new Set([before, after])].map((o) => wall - o).filter((t) => wall - zoneOffset(t, timeZone) === t);
  if (valid.length > 0) return Math.min(...valid);
  // In the gap: the offset before it carries the wall time forward by the gap's length.
  return wall - before;
}

/** Shift boundaries `b` with `from < b ≤ to`, in order. */
export function boundariesBetween(plan: ShiftPlan, from: number, to: number): number[] {
  if (plan.starts.length === 0 || to <= from) return [];
  const out = new Set<number>();
  // Local dates from the day before `from` to the day after `to`: a boundary's instant is within a day of its date.
  const first = localFields(from, plan.timeZone);
  const days = Math.ceil((to - from) / DAY_MS) + 3;
  for (let k = -1; k < days; k++) {
    const date = new Date(Date.UTC(first.y, first.mo - 1, first.d + k));
    for (const minutes of plan.starts) {
      const b = localInstant(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), minutes, plan.timeZone);
      if (b > from && b <= to) out.add(b);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** The last boundary at or before `t`. */
export function boundaryAtOrBefore(plan: ShiftPlan, t: number): number | undefined {
  if (plan.starts.length === 0) return undefined;
  // With at least one start per local day, the last boundary is never more than two days back.
  return boundariesBetween(plan, t - 3 * DAY_MS, t).at(-1);
}

/** The first boundary after `t`. */
export function boundaryAfter(plan: ShiftPlan, t: number): number | undefined {
  if (plan.starts.length === 0) return undefined;
  return boundariesBetween(plan, t, t + 3 * DAY_MS)[0];
}
