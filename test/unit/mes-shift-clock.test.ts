import { describe, expect, it } from 'vitest';
import { boundariesBetween, boundaryAfter, boundaryAtOrBefore, localInstant, shiftPlan, zoneOffset } from '../../src/mes/shift-clock.js';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const BERLIN = shiftPlan(['22:00', '06:00', '14:00'], 'Europe/Berlin');

describe('shift boundaries in a time zone', () => {
  it('reads the zone offset on either side of daylight saving', () => {
    expect(zoneOffset(t('2026-01-10T12:00:00Z'), 'Europe/Berlin')).toBe(3_600_000);
    expect(zoneOffset(t('2026-07-10T12:00:00Z'), 'Europe/Berlin')).toBe(7_200_000);
    expect(zoneOffset(t('2026-07-10T12:00:00Z'), 'Asia/Kolkata')).toBe(19_800_000);
    expect(zoneOffset(t('2026-07-10T12:00:00Z'), 'UTC')).toBe(0);
  });

  it('sorts the starts and turns them into minutes', () => {
    expect(BERLIN.starts).toEqual([360, 840, 1320]);
    expect(() => shiftPlan(['6:00'], 'UTC')).toThrow(/HH:MM/);
  });

  it('moves a start inside the skipped spring hour forward by the gap, and takes the first of a repeated autumn hour', () => {
    expect(iso(localInstant(2026, 3, 29, 150, 'Europe/Berlin'))).toBe('2026-03-29T01:30:00.000Z'); // 02:30 → 03:30 CEST
    expect(iso(localInstant(2026, 10, 25, 150, 'Europe/Berlin'))).toBe('2026-10-25T00:30:00.000Z'); // first 02:30, still CEST
    expect(iso(localInstant(2026, 10, 25, 210, 'Europe/Berlin'))).toBe('2026-10-25T02:30:00.000Z'); // 03:30 CET
  });

  it('gives a 7-hour night shift when the clocks go forward and a 9-hour one when they go back', () => {
    expect(boundariesBetween(BERLIN, t('2026-03-28T00:00:00Z'), t('2026-03-30T00:00:00Z')).map(iso)).toEqual([
      '2026-03-28T05:00:00.000Z', '2026-03-28T13:00:00.000Z', '2026-03-28T21:00:00.000Z',
      '2026-03-29T04:00:00.000Z', '2026-03-29T12:00:00.000Z', '2026-03-29T20:00:00.000Z',
    ]);
    const autumn = boundariesBetween(BERLIN, t('2026-10-24T19:00:00Z'), t('2026-10-25T06:00:00Z'));
    expect(autumn.map(iso)).toEqual(['2026-10-24T20:00:00.000Z', '2026-10-25T05:00:00.000Z']);
    expect((autumn[1] - autumn[0]) / 3_600_000).toBe(9);
  });

  it('finds the boundary at or before an instant and the next one, with the ends as stated', () => {
    const plan = shiftPlan(['06:00'], 'Asia/Kolkata');
    expect(iso(boundaryAtOrBefore(plan, t('2026-05-01T00:30:00Z'))!)).toBe('2026-05-01T00:30:00.000Z');
    expect(iso(boundaryAtOrBefore(plan, t('2026-05-01T00:29:59Z'))!)).toBe('2026-04-30T00:30:00.000Z');
    expect(iso(boundaryAfter(plan, t('2026-05-01T00:30:00Z'))!)).toBe('2026-05-02T00:30:00.000Z');
    expect(boundaryAfter(shiftPlan([], 'UTC'), 0)).toBeUndefined();
    expect(boundariesBetween(BERLIN, t('2026-03-28T05:00:00Z'), t('2026-03-28T13:00:00Z')).map(iso)).toEqual(['2026-03-28T13:00:00.000Z']);
  });
});
