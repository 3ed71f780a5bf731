import { z } from 'zod';

/*
 * `mes:` — reconciliation with the plant's MES: shift summaries and replays on
 * request (docs/mqtt.md). Strict like the rest of the configuration.
 */

const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** True when `Intl` knows the IANA time zone `zone` (e.g. `Europe/Berlin`, `UTC`). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const shiftStart = z.string({ error: 'expected a shift start time "HH:MM"' }).regex(HHMM, { error: 'expected a shift start time "HH:MM" (00:00–23:59)' });

export const mesSchema = z.strictObject({
  shifts: z.array(shiftStart, { error: 'expected a list of shift start times "HH:MM"' }).default(['06:00', '14:00', '22:00'])
    .check((ctx) => {
      const seen = new Set<string>();
      for (const s of ctx.value) {
        if (seen.has(s)) ctx.issues.push({ code: 'custom', message: `expected each shift start once ("${s}" is there twice)`, input: ctx.value });
        seen.add(s);
      }
    })
    .describe('Shift start times, local to mes.timezone; at each one a retained summary of the shift that ended is published per camera. [] turns summaries off'),
  timezone: z.string({ error: 'expected an IANA time zone such as "Europe/Berlin"' })
    .refine(isTimeZone, { error: 'expected an IANA time zone such as "Europe/Berlin" or "UTC"' }).optional()
    .describe('Time zone of the shift times (IANA name, daylight saving followed); default: the box\'s time zone'),
  replay_max: z.number({ error: 'expected a positive integer' }).int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' })
    .default(1000).describe('Most alerts one replay request may ask for (to_seq − from_seq + 1); a larger range is refused'),
  replay_rate: z.number({ error: 'expected a positive number of alerts per second' }).positive({ error: 'expected a positive number of alerts per second' })
    .default(50).describe('Alerts per second a replay re-publishes, so a long replay never crowds out live alerts'),
}).prefault({});

export type MesConfig = z.infer<typeof mesSchema>;
