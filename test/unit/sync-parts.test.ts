import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isLinesightError } from '../../src/errors.js';
import { formatAlerts, parseSince } from '../../src/commands/alerts-format.js';
import type { AlertRecord } from '../../src/store/types.js';
import { parseRetryAfter } from '../../src/sync/backoff.js';
import { silentLogger } from '../../src/log.js';
import { openStore } from '../../src/store/index.js';
import { buildBatch, idempotencyKey, toWireRow, type BatchExtras } from '../../src/sync/batch.js';
import { planBatch } from '../../src/sync/planner.js';
import { batchFileName } from '../../src/sync/file-target.js';
import { Scheduler, parseSchedule } from '../../src/sync/schedule.js';
import { makeEvent } from '../helpers/events.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { syntheticMinute, writeMinutes } from '../helpers/stats-data.js';

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('schedule', () => {
  it('reads the cron expression in the given time zone', () => {
    expect(new Date(parseSchedule('0 2 * * *', 'UTC').next(Date.parse('2025-03-04T00:30:00Z'))).toISOString()).toBe('2025-03-04T02:00:00.000Z');
    // Berlin is UTC+1 in early March and UTC+2 in July.
    expect(new Date(parseSchedule('0 2 * * *', 'Europe/Berlin').next(Date.parse('2025-03-04T00:30:00Z'))).toISOString()).toBe('2025-03-04T01:00:00.000Z');
    expect(new Date(parseSchedule('0 2 * * *', 'Europe/Berlin').next(Date.parse('2025-07-01T00:30:00Z'))).toISOString()).toBe('2025-07-02T00:00:00.000Z');
    // Strictly after: the fire time itself gives the next day.
    expect(new Date(parseSchedule('0 2 * * *', 'UTC').next(Date.parse('2025-03-04T02:00:00Z'))).toISOString()).toBe('2025-03-05T02:00:00.000Z');
    expect(parseSchedule('@daily', 'UTC').next(Date.parse('2025-03-04T00:30:00Z'))).toBe(Date.parse('2025-03-05T00:00:00Z'));
  });

  it('refuses a malformed expression with E_CONFIG naming sync.schedule, what was expected and what was found', () => {
    for (const bad of ['61 2 * * *', 'every night', '0 2 * *', '', '0 25 * * *', '0 2 31 2 *']) {
      const err = thrown(() => parseSchedule(bad, 'UTC'));
      expect(isLinesightError(err, 'E_CONFIG'), bad).toBe(true);
      expect(err.message).toMatch(/^sync\.schedule: expected a cron expression of 5 fields/);
      expect(err.message).toContain(`received ${JSON.stringify(bad)} (string)`);
    }
    expect(thrown(() => parseSchedule('61 2 * * *', 'UTC')).message).toContain('got value 61 expected range 0-59');
    expect(thrown(() => parseSchedule('0 2 * * *', 'Mars/Olympus')).message).toContain('Mars/Olympus');
  });

  it('fires once at each scheduled time, never twice, and re-checks at least hourly', () => {
    const clock = new FakeClock('2025-03-04T00:00:00Z');
    const fired: string[] = [];
    const scheduler = new Scheduler(parseSchedule('0 2 * * *', 'UTC'), clock, (at) => fired.push(new Date(at).toISOString()));
    scheduler.start();
    scheduler.start(); // idempotent
    expect(new Date(scheduler.nextRunAt ?? 0).toISOString()).toBe('2025-03-04T02:00:00.000Z');
    clock.advanceTo('2025-03-04T01:59:59.999Z');
    expect(fired).toEqual([]);
    clock.advanceTo('2025-03-04T02:00:00.000Z');
    expect(fired).toEqual(['2025-03-04T02:00:00.000Z']);
    clock.advanceTo('2025-03-04T23:00:00.000Z');
    expect(fired).toHaveLength(1);
    clock.advanceTo('2025-03-06T02:30:00.000Z');
    expect(fired).toEqual(['2025-03-04T02:00:00.000Z', '2025-03-05T02:00:00.000Z', '2025-03-06T02:00:00.000Z']);
    expect(clock.pending).toBe(1);
    scheduler.stop();
    expect(clock.pending).toBe(0);
    expect(scheduler.nextRunAt).toBeUndefined();
  });
});

describe('backoff', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2025-03-04T10:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Tue, 04 Mar 2025 10:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Tue, 04 Mar 2025 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe('batch', () => {
  const start = Date.parse('2025-03-04T00:00:00Z');
  const end = Date.parse('2025-03-04T00:02:00Z');
  const rows = [syntheticMinute('cam1', start), syntheticMinute('cam2', start), syntheticMinute('cam1', start + 60_000)].map(toWireRow);

  it('derives the key from site, line, camera set and period only', () => {
    const key = idempotencyKey('plant', 'line1', ['cam2', 'cam1'], start, end);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(idempotencyKey('plant', 'line1', ['cam1', 'cam2'], start, end)).toBe(key);
    expect(idempotencyKey('plant', 'line2', ['cam1', 'cam2'], start, end)).not.toBe(key);
    expect(idempotencyKey('plant', 'line1', ['cam1'], start, end)).not.toBe(key);
    expect(idempotencyKey('plant', 'line1', ['cam1', 'cam2'], start, end + 60_000)).not.toBe(key);
  });

  it('builds the same bytes for the same records', () => {
    const a = buildBatch({ site: 'plant', line: 'line1' }, start, end, rows);
    const b = buildBatch({ site: 'plant', line: 'line1' }, start, end, rows.map((r) => structuredClone(r)));
    expect(a.body.equals(b.body)).toBe(true);
    expect(a.key).toBe(idempotencyKey('plant', 'line1', ['cam1', 'cam2'], start, end));
    const text = gunzipSync(a.body).toString('utf8');
    expect(text.endsWith('}\n')).toBe(true);
    expect(JSON.parse(text)).toMatchObject({
      schema: 'linesight.aggregates/1', batch_id: a.key, site: 'plant', line: 'line1',
      period: { start: '2025-03-04T00:00:00.000Z', end: '2025-03-04T00:02:00.000Z' }, cameras: ['cam1', 'cam2'], row_count: 3,
    });
    expect(batchFileName({ site: 'plant', line: 'line1' }, a)).toBe(`aggregates_plant_line1_20250304T0000Z_20250304T0002Z_${a.key.slice(0, 12)}.ndjson.gz`);
  });
});

describe('planBatch', () => {
  it('counts what travels with the rows against the byte budget', () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-plan-'));
    const store = openStore(join(dir, 'line.db'), { outboxMaxRows: 10, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    try {
      const stats = store.statistics();
      const day = Date.parse('2025-03-04T00:00:00Z');
      writeMinutes(stats, day, 20, ['cam1']);
      const rowBytes = stats.minutes(day, day + 20 * 60_000).map((r) => JSON.stringify(toWireRow(r)).length + 1);
      const all = rowBytes.reduce((a, b) => a + b, 0);
      // A production timeline as large as five rows; each period asked for is recorded.
      const asked: Array<[number, number]> = [];
      const timeline = (start: number, end: number): BatchExtras => {
        asked.push([start, end]);
        return { context_changes: [{ order: 'O-1', lot: 'L-1', extra: { note: 'x'.repeat(rowBytes[0] * 5) }, ts: new Date(start).toISOString() }] };
      };
      const limits = { maxRows: 1000, maxBytes: all };
      const meta = { site: 'plant', line: 'l1' };
      expect(planBatch(stats, meta, undefined, day + 20 * 60_000, limits)!.rowCount).toBe(20); // the rows alone fit
      const batch = planBatch(stats, meta, undefined, day + 20 * 60_000, limits, timeline)!;
      const doc = JSON.parse(gunzipSync(batch.body).toString('utf8')) as { rows: unknown[]; context_changes: unknown[] };
      expect(doc.rows.length).toBeLessThan(20);
      expect(doc.rows.length).toBeGreaterThanOrEqual(14);
      expect(doc.rows.map((r) => JSON.stringify(r).length + 1).reduce((a, b) => a + b, 0) + JSON.stringify({ context_changes: doc.context_changes }).length).toBeLessThanOrEqual(all);
      expect(asked.at(-1)).toEqual([day, batch.periodEnd]); // the timeline of the period as cut
      // The next batch goes on where this one stopped.
      const next = planBatch(stats, meta, batch.periodEnd, day + 20 * 60_000, limits, timeline)!;
      expect(doc.rows.length + next.rowCount).toBe(20);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('alerts on the command line', () => {
  const now = Date.parse('2025-03-04T06:00:00Z');

  it('parses --since as a duration or an ISO time, and refuses anything else with E_CLI', () => {
    expect(parseSince('1h', now)).toBe(Date.parse('2025-03-04T05:00:00Z'));
    expect(parseSince('1h30m', now)).toBe(Date.parse('2025-03-04T04:30:00Z'));
    expect(parseSince('2d', now)).toBe(Date.parse('2025-03-02T06:00:00Z'));
    expect(parseSince('90s', now)).toBe(now - 90_000);
    expect(parseSince('2025-03-04T05:00:00Z', now)).toBe(Date.parse('2025-03-04T05:00:00Z'));
    for (const bad of ['yesterday', '1x', '', 'h1']) {
      const err = thrown(() => parseSince(bad, now));
      expect(err.code).toBe('E_CLI');
      expect(err.message).toContain(`received ${JSON.stringify(bad)}`);
    }
  });

  it('prints alerts oldest first with a summary', () => {
    const rec = (seq: number, ts: string, className: string): AlertRecord => ({
      ...makeEvent({ ts: Date.parse(ts), className, box: { x: 10.4, y: 20.6, w: 30, h: 40 } }), seq, status: 'sent', createdAt: Date.parse(ts),
    });
    const out = formatAlerts([rec(2, '2025-03-04T05:30:00Z', 'dent'), rec(1, '2025-03-04T05:10:00Z', 'scratch')], { since: Date.parse('2025-03-04T05:00:00Z') });
    expect(out).toBe([
      '2025-03-04T05:10:00.000Z  cam1  #1  scratch  0.87  box 10,21 30×40  sent',
      '2025-03-04T05:30:00.000Z  cam1  #2  dent  0.87  box 10,21 30×40  sent',
      '2 alert(s) since 2025-03-04T05:00:00.000Z: scratch 1, dent 1',
      '',
    ].join('\n'));
    const json = formatAlerts([rec(1, '2025-03-04T05:10:00Z', 'scratch')], { json: true });
    expect(JSON.parse(json)).toMatchObject({ seq: 1, ts: '2025-03-04T05:10:00.000Z', class: 'scratch', status: 'sent' });
  });
});
