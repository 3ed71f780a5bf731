import { compileCron, cronProblem, localTimeZone } from '../config/cron.js';
import { describeValue, LinesightError } from '../errors.js';
import type { Clock } from '../clock.js';

/** Longest single timer: re-checking hourly keeps a wall-clock step (NTP, DST, suspend) from delaying a run for long. */
const MAX_TIMER_MS = 3_600_000;

export interface Schedule {
  readonly expression: string;
  readonly timeZone: string;
  /** The first fire time strictly after `after` (ms since epoch). */
  next(after: number): number;
}

/**
 * Validates and compiles `sync.schedule`: a 5-field cron expression (minute
 * hour day-of-month month day-of-week), a 6-field one with seconds first, or a
 * preset such as `@daily`, read in `timeZone`. Throws E_CONFIG naming the key,
 * what was expected and what was found.
 *
 * @example
 * parseSchedule('0 2 * * *', 'Europe/Berlin').next(Date.parse('2025-03-04T00:30:00Z')) // 2025-03-04T01:00:00Z
 */
export function parseSchedule(expression: string, timeZone = localTimeZone()): Schedule {
  const problem = cronProblem(expression, timeZone);
  if (problem) throw new LinesightError('E_CONFIG', `sync.schedule: ${problem}, received ${describeValue(expression)}`);
  return {
    expression,
    timeZone,
    next: (after) => compileCron(expression, timeZone, after).next().getTime(),
  };
}

/**
 * Fires `run` at each time of the schedule, once per time: after a fire the
 * next time is computed strictly after the one just fired, and if the process
 * slept through several times they collapse into one run. A fire while the
 * previous run is still going is skipped (the running one covers it).
 */
export class Scheduler {
  private timer: unknown = undefined;
  private nextAt: number | undefined;
  private lastFired = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly schedule: Schedule,
    private readonly clock: Clock,
    private readonly run: (scheduledFor: number) => void,
  ) {}

  get nextRunAt(): number | undefined {
    return this.nextAt;
  }

  start(): void {
    if (this.nextAt !== undefined) return;
    this.arm();
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = undefined;
  }

  private arm(): void {
    const now = this.clock.now();
    const at = this.schedule.next(Math.max(now, this.lastFired));
    this.nextAt = at;
    this.timer = this.clock.setTimeout(() => this.tick(), Math.min(Math.max(0, at - now), MAX_TIMER_MS));
  }

  private tick(): void {
    this.timer = undefined;
    if (this.nextAt === undefined) return;
    const due = this.nextAt;
    if (this.clock.now() >= due) {
      this.lastFired = due;
      this.run(due);
    }
    if (this.nextAt !== undefined) this.arm();
  }
}
