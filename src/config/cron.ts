import { CronExpressionParser } from 'cron-parser';
import { errorMessage } from '../errors.js';

/** What `sync.schedule` accepts, in words, for error messages. */
export const CRON_EXPECTED =
  'a cron expression of 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 2 * * *" for 02:00 nightly) or a preset like "@daily"';

/** The box's own IANA time zone (TZ, /etc/localtime). */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Compiles a cron expression read in `timeZone`, starting from `currentDate`; throws cron-parser's error. */
export function compileCron(expression: string, timeZone: string, currentDate: number) {
  return CronExpressionParser.parse(expression.trim(), { currentDate, tz: timeZone });
}

/**
 * Why `expression` is not a schedule linesight can run (5 fields, 6 with
 * seconds first, or a preset such as `@daily`), or undefined when it is: an
 * "expected …" sentence the caller completes with what it received. The config
 * schema and the upload's scheduler both ask this one function.
 */
export function cronProblem(expression: string, timeZone = localTimeZone()): string | undefined {
  const fields = typeof expression === 'string' ? expression.trim().split(/\s+/).filter(Boolean) : [];
  const preset = fields.length === 1 && fields[0].startsWith('@');
  if (!preset && fields.length !== 5 && fields.length !== 6) {
    return `expected ${CRON_EXPECTED} (found ${fields.length} field(s))`;
  }
  try {
    compileCron(expression, timeZone, Date.now()).next();
    return undefined;
  } catch (err) {
    return `expected ${CRON_EXPECTED} in time zone ${timeZone} (${errorMessage(err)})`;
  }
}
