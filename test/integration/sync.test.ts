import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import type { SyncConfig } from '../../src/config/schema.js';
import { isLinesightError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { openAggregateStore, type AggregateStore } from '../../src/store/aggregate-store.js';
import { MinuteAggregator } from '../../src/store/aggregator.js';
import type { MinuteStats } from '../../src/store/minute-stats.js';
import { idempotencyKey, type BatchDocument } from '../../src/sync/batch.js';
import { batchFileName } from '../../src/sync/file-target.js';
import { createSync, formatSyncResult, syncStatusPayload, type Sync, type SyncOptions } from '../../src/sync/index.js';
import type { CameraSnapshot, InspectedFrame } from '../../src/types.js';
import { makeEvent } from '../helpers/events.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { startIngestServer, type IngestServer } from '../helpers/ingest-server.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';
import { writeMinutes } from '../helpers/stats-data.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'linesight-sync-'));
const log = silentLogger();
const schema = JSON.parse(readFileSync(new URL('../../docs/aggregates.schema.json', import.meta.url), 'utf8')) as JsonSchema;
const servers: IngestServer[] = [];
const stores: AggregateStore[] = [];
const syncs: Sync[] = [];
let n = 0;

afterEach(async () => {
  for (const s of syncs.splice(0)) await s.stop();
  for (const s of stores.splice(0)) s.close();
  for (const s of servers.splice(0)) await s.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DAY0 = Date.parse('2025-03-04T00:00:00Z');
const MIN = 60_000;
const iso = (ts: number) => new Date(ts).toISOString();

function freshStore(): AggregateStore {
  const store = openAggregateStore(join(dir, `db${++n}`, 'linesight.db'), log);
  stores.push(store);
  return store;
}

async function server(options: { token?: string } = {}): Promise<IngestServer> {
  const s = await startIngestServer(options);
  servers.push(s);
  return s;
}

function sync(store: AggregateStore, config: Partial<SyncConfig>, extra: Partial<SyncOptions> = {}): Sync {
  const s = createSync({
    config: { schedule: '0 2 * * *', dir: join(dir, `out${++n}`), ...config },
    site: 'plant', line: 'line1', store, log, timeZone: 'UTC',
    tuning: { backoffBaseMs: 5, backoffMaxMs: 20, requestTimeoutMs: 2000, maxAttempts: 3 },
    ...extra,
  });
  syncs.push(s);
  return s;
}

/** A fixed "now" that still lets real timers run (for retries). */
function clockAt(now: number) {
  const started = Date.now();
  return { ...systemClock, now: () => now + (Date.now() - started) };
}

/**
 * Feeds the aggregator a day of two cameras as the app would, at 10 s steps:
 * a snapshot per camera (5 fps received, one superseded drop), one inspected frame
 * (40 ms capture → detections), a scratch at 0.8 once a minute, an alert every
 * 10 minutes published 150 ms after capture.
 */
function feedDay(store: AggregateStore): { transactions: number; written: number } {
  const clock = new FakeClock(DAY0);
  let transactions = 0;
  const sink = { writeMinutes: (rows: readonly MinuteStats[]) => { transactions += 1; store.writeMinutes(rows); } };
  const agg = new MinuteAggregator({ sink, log, clock, settleMs: 10_000 });
  for (let k = 0; k < 8640; k++) {
    const t = DAY0 + k * 10_000;
    clock.advanceTo(t);
    const snaps: CameraSnapshot[] = ['cam1', 'cam2'].map((id) => ({
      id, state: 'online', fps: 5, framesReceived: 50 * (k + 1), framesInspected: 6 * (k + 1),
      framesDropped: { superseded: k + 1, bad_frame: 0, shutdown: 0, inference_error: 0 }, restarts: 0,
    }));
    agg.onSnapshots(snaps, 'cpu');
    for (const camera of ['cam1', 'cam2']) {
      const frame: InspectedFrame = {
        frame: { camera, seq: k, captureTs: t - 40, captureMono: t - 40, width: 1280, height: 720, pictured: false },
        detections: k % 6 === 0 ? [{ classId: 0, className: 'scratch', confidence: 0.8, box: { x: 1, y: 2, w: 3, h: 4 } }] : [],
        inferredAt: t, latencyMs: 40, inferMs: 20, batchSize: 2,
      };
      const events = k % 60 === 0 ? [makeEvent({ camera, className: 'scratch', ts: t - 40 })] : [];
      agg.onInspected(frame, events);
      if (events.length > 0) agg.onPublished(camera, 150);
    }
  }
  clock.advanceTo(DAY0 + 86_400_000 + 15_000); // the last minute settles and is written by the timer
  expect(agg.stats().openMinutes).toBe(0);
  agg.close();
  return { transactions, written: agg.stats().written };
}

function docs(s: IngestServer): BatchDocument[] {
  return [...s.stored.values()].map((b) => b.doc).sort((a, b) => a.period.start.localeCompare(b.period.start));
}

describe('sync: happy path', () => {
  it('uploads a day of two cameras as the documented batches, each minute once', async () => {
    const store = freshStore();
    expect(feedDay(store)).toEqual({ transactions: 1440, written: 2880 });
    const cloud = await server({ token: 's3cret' });
    const s = sync(store, { url: cloud.url, token: 's3cret' }, { clock: clockAt(DAY0 + 86_400_000 + 30 * MIN), tuning: { maxRowsPerBatch: 1000 } });

    const result = await s.runOnce();
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ ok: true, outcome: 'uploaded', target: 'http', batches: 3, rows: 2880, duplicates: 0, backlog: { rows: 0, minutes: 0, pendingBatches: 0 } });
    expect(cloud.problems).toEqual([]);
    // 1000 records = 500 minutes of 2 cameras per batch; the day's end closes the last one.
    const periods = [[0, 500], [500, 1000], [1000, 1440]].map(([a, b]) => [DAY0 + a * MIN, DAY0 + b * MIN]);
    const stored = docs(cloud);
    expect(stored.map((d) => [d.period.start, d.period.end, d.row_count])).toEqual(periods.map(([a, b], i) => [iso(a), iso(b), i < 2 ? 1000 : 880]));
    expect(stored.map((d) => d.batch_id)).toEqual(periods.map(([a, b]) => idempotencyKey('plant', 'line1', ['cam1', 'cam2'], a, b)));
    expect(cloud.requests.map((r) => r.auth)).toEqual(['Bearer s3cret', 'Bearer s3cret', 'Bearer s3cret']);
    for (const d of stored) expect(checkSchema(schema, d)).toEqual([]);
    const counts = cloud.minuteCounts();
    expect(counts.size).toBe(2880);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);

    // One minute in full: what the feed put in, as the cloud receives it.
    const row = stored[1].rows.find((r) => r.camera === 'cam2' && r.minute === '2025-03-04T10:00:00.000Z');
    expect(row).toEqual({
      camera: 'cam2', minute: '2025-03-04T10:00:00.000Z', frames_received: 300, frames_inspected: 6,
      frames_dropped: { bad_frame: 0, inference_error: 0, shutdown: 0, superseded: 6 }, fps: 5, seconds_online: 60, provider: 'cpu',
      frames_inspected_degraded: 0, seconds_degraded: 0, detections: 1, events: 1,
      classes: { scratch: { detections: 1, events: 1, confidence_mean: 0.8, confidence_max: 0.8 } },
      latency_ms: { count: 1, mean: 150, p50: 150, p95: 150, max: 150, buckets: [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] },
      inspect_latency_ms: { count: 6, mean: 40, p50: 35, p95: 40, max: 40, buckets: [0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
    });

    // A second run finds nothing new; the watermark and the status say why.
    const again = await s.runOnce();
    expect(again).toMatchObject({ ok: true, outcome: 'up_to_date', batches: 0 });
    expect(cloud.requests).toHaveLength(3);
    const status = s.status();
    expect(status).toMatchObject({ target: 'http', running: false, acknowledgedUntil: DAY0 + 86_400_000, backlog: { rows: 0, pendingBatches: 0 }, lastRun: { ok: true, outcome: 'up_to_date' } });
    expect(syncStatusPayload(status)).toMatchObject({ target: 'http', last_result: 'up_to_date', last_error: null, acknowledged_until: '2025-03-05T00:00:00.000Z', backlog_rows: 0 });
    expect(formatSyncResult(result, status.destination)).toMatch(/^uploaded 3 batch\(es\), 2880 records to http:\/\/127\.0\.0\.1:\d+\/ingest in /);
    // Settled batches keep no bytes; acknowledged records may now go with retention.
    expect(store.db.prepare("SELECT COUNT(*) FROM sync_batches WHERE status = 'done' AND body IS NULL").pluck().get()).toBe(3);
    expect(await store.purgeAggregates(1, { now: DAY0 + 3 * 86_400_000 })).toBe(2880);
  });

  it('without sync.url writes the same batches as gzip NDJSON files, atomically', async () => {
    const store = freshStore();
    const written = writeMinutes(store, DAY0, 1440, ['cam1', 'cam2']);
    const out = join(dir, 'files');
    const s = sync(store, { dir: out }, { clock: clockAt(DAY0 + 86_400_000 + 30 * MIN), tuning: { maxRowsPerBatch: 1000 } });
    const result = await s.runOnce();
    expect(result).toMatchObject({ ok: true, target: 'dir', batches: 3, rows: 2880 });
    const files = readdirSync(out).sort();
    const periods = [[0, 500], [500, 1000], [1000, 1440]].map(([a, b]) => [DAY0 + a * MIN, DAY0 + b * MIN]);
    const keys = periods.map(([a, b]) => idempotencyKey('plant', 'line1', ['cam1', 'cam2'], a, b));
    expect(files).toEqual(periods.map(([a, b], i) => batchFileName({ site: 'plant', line: 'line1' }, { key: keys[i], periodStart: a, periodEnd: b, cameras: [], rowCount: 0, body: Buffer.alloc(0) })));
    const seen: string[] = [];
    for (const file of files) {
      const lines = gunzipSync(readFileSync(join(out, file))).toString('utf8').split('\n');
      expect(lines.at(-1)).toBe('');
      const doc = JSON.parse(lines[0]) as BatchDocument;
      expect(checkSchema(schema, doc)).toEqual([]);
      seen.push(...doc.rows.map((r) => `${r.camera}|${r.minute}`));
    }
    expect(seen.sort()).toEqual([...written].sort());
    expect(s.status()).toMatchObject({ target: 'dir', destination: out, acknowledgedUntil: DAY0 + 86_400_000 });
    expect(await s.runOnce()).toMatchObject({ outcome: 'up_to_date' });
    expect(readdirSync(out)).toHaveLength(3); // no temporary files left behind
  });
});

describe('sync: schedule', () => {
  it('fires at the configured time in the box time zone, once, and again the next night', async () => {
    const store = freshStore();
    writeMinutes(store, DAY0, 1440, ['cam1', 'cam2']);
    const cloud = await server();
    const clock = new FakeClock('2025-03-05T00:00:00Z');
    const s = sync(store, { url: cloud.url, schedule: '0 2 * * *' }, { clock, timeZone: 'UTC' });
    s.startSchedule();
    expect(s.status().nextRunAt).toBe(Date.parse('2025-03-05T02:00:00Z'));
    clock.advanceTo('2025-03-05T01:59:59.999Z');
    expect(cloud.requests).toHaveLength(0);
    expect(s.status().running).toBe(false);

    clock.advanceTo('2025-03-05T02:00:00.000Z');
    expect(s.status().running).toBe(true);
    await waitFor('the 02:00 run to finish', () => !s.status().running);
    expect(s.status().lastRun).toMatchObject({ ok: true, batches: 1, rows: 2880, startedAt: Date.parse('2025-03-05T02:00:00Z') });
    clock.advanceTo('2025-03-05T23:59:00Z');
    expect(cloud.requests).toHaveLength(1);
    expect(s.status().nextRunAt).toBe(Date.parse('2025-03-06T02:00:00Z'));

    // The next night uploads what came since: the rest of the 5th (a batch never crosses a UTC day).
    writeMinutes(store, Date.parse('2025-03-05T00:00:00Z'), 118, ['cam1', 'cam2']);
    clock.advanceTo('2025-03-06T02:00:00Z');
    await waitFor('the second run to finish', () => !s.status().running);
    clock.advanceTo('2025-03-06T02:00:30Z');
    expect(cloud.requests).toHaveLength(2);
    expect(docs(cloud)[1].period).toEqual({ start: '2025-03-05T00:00:00.000Z', end: '2025-03-06T00:00:00.000Z' });
    expect(cloud.minuteCounts().size).toBe(2880 + 236);
  });

  it('reads the schedule in the box time zone', () => {
    const s = sync(freshStore(), {}, { clock: new FakeClock('2025-03-04T12:00:00Z'), timeZone: 'America/New_York' });
    s.startSchedule();
    expect(iso(s.status().nextRunAt ?? 0)).toBe('2025-03-05T07:00:00.000Z'); // 02:00 EST
  });
});

describe('sync: bad input', () => {
  it('refuses a malformed cron expression or URL at creation with E_CONFIG', () => {
    const store = freshStore();
    for (const [config, pattern] of [
      [{ schedule: '0 2 * *' }, /^sync\.schedule: expected a cron expression .* \(found 4 field\(s\)\), received "0 2 \* \*" \(string\)$/],
      [{ schedule: '0 26 * * *' }, /^sync\.schedule: expected .* \(Constraint error, got value 26 expected range 0-23\), received "0 26 \* \* \*" \(string\)$/],
      [{ url: 'ftp://cloud.example/in' }, /^sync\.url: expected an https:\/\/ \(or http:\/\/\) URL .* received "ftp:\/\/cloud\.example\/in" \(string\)$/],
    ] as const) {
      let error: unknown;
      try {
        sync(store, config);
      } catch (err) {
        error = err;
      }
      expect(isLinesightError(error, 'E_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    }
  });

  it('reports an unreachable URL clearly, keeps the data, and later sends the same batch', async () => {
    const store = freshStore();
    writeMinutes(store, DAY0, 1440, ['cam1']);
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/ingest`;
    const clock = clockAt(DAY0 + 86_400_000 + 30 * MIN);
    const down = sync(store, { url }, { clock });
    const result = await down.runOnce();
    expect(result).toMatchObject({ ok: false, outcome: 'failed', batches: 0, backlog: { rows: 1440, minutes: 1440, pendingBatches: 1 } });
    expect(result.error?.code).toBe('E_SYNC');
    expect(result.error?.message).toContain(`Expected ${url} to accept batch 2025-03-04T00:00:00.000Z–2025-03-05T00:00:00.000Z (1440 records`);
    expect(result.error?.message).toMatch(/3 attempt\(s\) failed, the last with: .*ECONNREFUSED.*; the batch stays queued/);
    expect(down.status()).toMatchObject({ lastRun: { ok: false, error: { code: 'E_SYNC' } }, backlog: { rows: 1440, pendingBatches: 1 } });
    expect(store.db.prepare('SELECT attempts FROM sync_batches').pluck().get()).toBe(3);
    expect(store.countSince(0).rows).toBe(1440);
    expect(await store.purgeAggregates(1, { now: DAY0 + 10 * 86_400_000 })).toBe(0);

    const cloud = await server();
    const up = sync(store, { url: cloud.url }, { clock });
    expect(await up.runOnce()).toMatchObject({ ok: true, batches: 1, rows: 1440 });
    expect([...cloud.stored.keys()]).toEqual([idempotencyKey('plant', 'line1', ['cam1'], DAY0, DAY0 + 86_400_000)]);
  });

  it('stops at once on 401 with a message about the token, keeps the data, and succeeds with the right token', async () => {
    const store = freshStore();
    writeMinutes(store, DAY0, 1440, ['cam1']);
    const cloud = await server({ token: 'right' });
    const clock = clockAt(DAY0 + 86_400_000 + 30 * MIN);
    const wrong = sync(store, { url: cloud.url, token: 'wrong' }, { clock, tuning: { maxAttempts: 5 } });
    const result = await wrong.runOnce();
    expect(result.error?.code).toBe('E_SYNC');
    expect(result.error?.message).toMatch(/answered 401 Unauthorized \("bad token"\); check sync\.token \(env LINESIGHT_SYNC_TOKEN\); not retried/);
    expect(cloud.requests).toHaveLength(1);
    expect(result.backlog).toEqual({ rows: 1440, minutes: 1440, pendingBatches: 1 });
    expect(formatSyncResult(result, wrong.status().destination)).toContain('E_SYNC: Expected');

    const right = sync(store, { url: cloud.url, token: 'right' }, { clock });
    expect(await right.runOnce()).toMatchObject({ ok: true, batches: 1 });
    expect(cloud.requests.map((r) => r.key)).toEqual([cloud.requests[0].key, cloud.requests[0].key]);
    expect(cloud.minuteCounts().size).toBe(1440);
  });
});

describe('sync: lifecycle', () => {
  it('shares one run between concurrent calls, and stop() aborts it leaving the batch queued', async () => {
    const store = freshStore();
    writeMinutes(store, DAY0, 1440, ['cam1']);
    const cloud = await server();
    cloud.faults.push('hold');
    const s = sync(store, { url: cloud.url }, { clock: clockAt(DAY0 + 86_400_000 + 30 * MIN), tuning: { requestTimeoutMs: 30_000 } });
    const a = s.runOnce();
    const b = s.runOnce();
    expect(b).toBe(a);
    await cloud.nextHeld();
    expect(s.status().running).toBe(true);
    await s.stop();
    const result = await a;
    expect(result).toMatchObject({ ok: false, batches: 0, backlog: { rows: 1440, pendingBatches: 1 } });
    expect(result.error?.message).toBe('Expected the upload to finish but linesight is stopping; the batch stays queued');
    expect(cloud.requests).toHaveLength(1);
  });
});

/** A port nobody listens on: bind, note, close. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
