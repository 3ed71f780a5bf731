import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { openAggregateStore } from '../../src/store/aggregate-store.js';
import { MinuteAggregator } from '../../src/store/aggregator.js';
import { ACKED_UNTIL } from '../../src/store/aggregates.js';
import { migrations } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { writeMinutes } from '../helpers/stats-data.js';

const dir = mkdtempSync(join(tmpdir(), 'linesight-aggregates-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `db${++n}`, 'linesight.db');
const log = silentLogger();
const DAY = 86_400_000;

describe('aggregate store', () => {
  it('shares the database file and migrations with the alert store', () => {
    const path = freshPath();
    const alerts = openStore(path, { outboxMaxRows: 10, outboxFullPolicy: 'drop_oldest' }, log);
    const stats = openAggregateStore(path, log);
    expect(stats.countSince(0)).toEqual({ rows: 0, minutes: 0 });
    stats.close();
    alerts.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(migrations.length);
    const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['aggregates', 'alerts', 'outbox', 'sync_batches', 'sync_state']));
    raw.close();
  });

  it('adds both halves of a minute when linesight restarts within it', () => {
    const path = freshPath();
    const clock = new FakeClock('2025-03-04T10:00:05Z');
    let stats = openAggregateStore(path, log);
    let agg = new MinuteAggregator({ sink: stats, log, clock });
    agg.onPublished('cam1', 100);
    agg.onSnapshots([{ id: 'cam1', state: 'online', fps: 5, framesReceived: 40, framesInspected: 0, framesDropped: { superseded: 1, bad_frame: 0, shutdown: 0, inference_error: 0 }, restarts: 0 }], 'cpu');
    clock.advanceTo('2025-03-04T10:00:20Z');
    expect(agg.close()).toBe(1);
    stats.close();

    clock.advanceTo('2025-03-04T10:00:40Z');
    stats = openAggregateStore(path, log);
    agg = new MinuteAggregator({ sink: stats, log, clock });
    agg.onPublished('cam1', 300);
    agg.onSnapshots([{ id: 'cam1', state: 'online', fps: 3, framesReceived: 10, framesInspected: 0, framesDropped: { superseded: 0, bad_frame: 2, shutdown: 0, inference_error: 0 }, restarts: 0 }], 'cuda');
    clock.advanceTo('2025-03-04T10:01:30Z'); // the flush timer writes 10:00
    expect(agg.stats().written).toBe(1);
    const [m] = stats.minutes(0, Number.MAX_SAFE_INTEGER);
    expect(m).toMatchObject({
      camera: 'cam1', minute: Date.parse('2025-03-04T10:00:00Z'), framesReceived: 50,
      framesDropped: { superseded: 1, bad_frame: 2, shutdown: 0, inference_error: 0 }, fpsSum: 8, fpsSamples: 2, provider: 'cuda',
    });
    expect(m.latency).toMatchObject({ count: 2, sum: 400, max: 300 });
    agg.close();
    stats.close();
  });

  it('purges in chunks only what is older than retention and acknowledged by the upload', async () => {
    const path = freshPath();
    const stats = openAggregateStore(path, log);
    const start = Date.parse('2025-03-01T00:00:00Z');
    writeMinutes(stats, start, 10 * 1440, ['cam1']);
    const now = start + 10 * DAY;
    // Nothing acknowledged yet: everything stays, however old (guarantee 4).
    expect(await stats.purgeAggregates(3, { now, chunk: 1000 })).toBe(0);
    stats.db.prepare('INSERT OR REPLACE INTO sync_state (name, value) VALUES (?, ?)').run(ACKED_UNTIL, String(start + 5 * DAY));
    expect(stats.acknowledgedUntil()).toBe(start + 5 * DAY);
    // Acknowledged up to day 5, retention 3 days (cutoff day 7): days 0–4 go.
    expect(await stats.purgeAggregates(3, { now, chunk: 1000 })).toBe(5 * 1440);
    expect(stats.firstMinute(0, now)).toBe(start + 5 * DAY);
    // A box that never uploads can opt out of the guarantee.
    expect(await stats.purgeAggregates(3, { now, chunk: 1000, keepUnsynced: false })).toBe(2 * 1440);
    expect(stats.countSince(0)).toEqual({ rows: 3 * 1440, minutes: 3 * 1440 });
    stats.close();
  });
});
