import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CoverageLedger } from '../../src/coverage.js';
import type { HealthValues } from '../../src/health/types.js';
import { silentLogger } from '../../src/log.js';
import { healthPayload } from '../../src/publish/health-payload.js';
import { splitForHealth } from '../../src/publish/health-drain.js';
import { cameraStatusPayload } from '../../src/publish/status.js';
import { healthTopic } from '../../src/publish/topics.js';
import { MinuteAggregator } from '../../src/store/aggregator.js';
import { openStore, type HealthEvent } from '../../src/store/index.js';
import { emptyMinute, mergeMinutes, type MinuteStats } from '../../src/store/minute-stats.js';
import { buildBatch, toWireRow } from '../../src/sync/batch.js';
import type { CameraSnapshot, InspectedFrame } from '../../src/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';
import { gunzipSync } from 'node:zlib';

const HEALTH_SCHEMA = JSON.parse(readFileSync(new URL('../../docs/health.schema.json', import.meta.url), 'utf8')) as JsonSchema;
const AGGREGATES_SCHEMA = JSON.parse(readFileSync(new URL('../../docs/aggregates.schema.json', import.meta.url), 'utf8')) as JsonSchema;
const T = (hms: string) => Date.parse(`2025-03-04T${hms}Z`);
const ID = '01956a3c-1f2e-7abc-8def-0123456789ab';
const dir = mkdtempSync(join(tmpdir(), 'linesight-health-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VALUES: HealthValues = { brightness: 0.0123456789, contrast: 0.004, sharpness: 1234.56789, change: 0, stillSeconds: 12.5 };

function event(over: Partial<HealthEvent> = {}): HealthEvent {
  return { id: ID, camera: 'cam1', state: 'degraded', reasons: ['dark', 'frozen'], since: T('10:00:05.250'), values: VALUES, ...over };
}

function inspected(camera: string): InspectedFrame {
  return { frame: { camera, seq: 1, captureTs: 0, captureMono: 0, width: 64, height: 48, pictured: false }, detections: [], inferredAt: 0, latencyMs: 10, inferMs: 5, batchSize: 1 };
}

function snapshot(over: Partial<CameraSnapshot>): CameraSnapshot {
  return { id: 'cam1', state: 'online', fps: 5, framesReceived: 0, framesInspected: 0, framesDropped: { superseded: 0, bad_frame: 0, shutdown: 0, inference_error: 0 }, restarts: 0, ...over };
}

describe('the health payload', () => {
  it('carries the change as documented, measures in snake_case with six significant digits, null where unmeasured', () => {
    const body = healthPayload({ id: 3, event: event(), createdAt: 0, replayed: true }, { site: 'plant', line: 'line1' });
    expect(body).toEqual({
      schema: 'linesight.health/1', id: ID, ts: '2025-03-04T10:00:05.250Z', site: 'plant', line: 'line1', camera: 'cam1',
      state: 'degraded', reasons: ['dark', 'frozen'],
      values: { brightness: 0.0123457, contrast: 0.004, sharpness: 1234.57, sharpness_baseline: null, change: 0, still_seconds: 12.5, shift_px: null, shift_fraction: null },
      replayed: true,
    });
    expect(checkSchema(HEALTH_SCHEMA, body)).toEqual([]);
    expect(healthTopic({ prefix: 'factory/', site: 'plant', line: 'line1' }, 'cam1')).toBe('factory/plant/line1/cam1/health');
  });

  it('is refused by the schema when it strays from the contract', () => {
    const body = healthPayload({ id: 3, event: event(), createdAt: 0, replayed: false }, { site: 'plant', line: 'line1' });
    expect(checkSchema(HEALTH_SCHEMA, { ...body, state: 'blind', reasons: ['smudged'], extra: 1 })).toEqual([
      '$.state: expected one of ["ok","degraded"]',
      '$.reasons[0]: expected one of ["frozen","dark","bright","covered","blurred","moved"]',
      '$.extra: not allowed',
    ]);
    expect(checkSchema(HEALTH_SCHEMA, { ...body, values: { ...body.values, brightness: 1.5 } })).toEqual(['$.values.brightness: 1.5 > 1']);
  });
});

describe('the camera status', () => {
  it('carries the health (since as ISO) and the degraded counts; null health for a camera nobody watches', () => {
    const s = snapshot({ health: { state: 'degraded', reasons: ['covered'], since: T('10:00:00'), learning: false }, framesInspectedDegraded: 7, secondsDegraded: 12.345 });
    expect(cameraStatusPayload(s, { provider: 'cpu', outboxDepth: 0 }, T('10:01:00'))).toMatchObject({
      health: { state: 'degraded', reasons: ['covered'], since: '2025-03-04T10:00:00.000Z', learning: false },
      frames_inspected_degraded: 7, seconds_degraded: 12.3,
    });
    expect(cameraStatusPayload(snapshot({}), { provider: 'cpu', outboxDepth: 0 }, 0)).toMatchObject({ health: null, frames_inspected_degraded: 0, seconds_degraded: 0 });
  });

  it('gives the health drain one slot of the alerts’ share of the broker window', () => {
    expect(splitForHealth(16)).toEqual({ outbox: 15, health: 1 });
    expect(splitForHealth(1)).toEqual({ outbox: 1, health: 1 });
  });
});

describe('the coverage ledger', () => {
  it('counts frames inspected while degraded and the degraded seconds, the current episode included', () => {
    const clock = new FakeClock(T('10:00:00'));
    const ledger = new CoverageLedger(clock);
    ledger.inspected('cam1', 3);
    ledger.degraded('cam1', true);
    ledger.degraded('cam1', true); // the same answer again does not restart the episode
    clock.advance(4000);
    ledger.inspected('cam1', 2);
    expect(ledger.counts('cam1')).toMatchObject({ framesInspected: 5, framesInspectedDegraded: 2, secondsDegraded: 4 });
    clock.advance(1500);
    ledger.degraded('cam1', false);
    clock.advance(10_000);
    ledger.inspected('cam1');
    expect(ledger.counts('cam1')).toMatchObject({ framesInspected: 6, framesInspectedDegraded: 2, secondsDegraded: 5.5 });
    expect(ledger.isDegraded('cam1')).toBe(false);
    expect(ledger.counts('cam2')).toMatchObject({ framesInspectedDegraded: 0, secondsDegraded: 0 });
  });
});

describe('per-minute statistics', () => {
  it('count degraded frames per frame and degraded seconds on the minutes they fell in, and upload them', () => {
    const clock = new FakeClock(T('10:00:50'));
    const writes: MinuteStats[][] = [];
    let degraded = false;
    const agg = new MinuteAggregator({ sink: { writeMinutes: (rows) => void writes.push(rows.map((r) => structuredClone(r))) }, log: silentLogger(), clock, degraded: () => degraded });
    agg.onSnapshots([snapshot({ secondsDegraded: 0 })], 'cpu');
    agg.onInspected(inspected('cam1'));
    degraded = true;
    agg.onInspected(inspected('cam1'));
    agg.onInspected(inspected('cam1'));
    clock.advanceTo(T('10:01:05'));
    // 12 s degraded in the 15 s since the last snapshot: laid on the end, 7 s in 10:00 and 5 s in 10:01.
    agg.onSnapshots([snapshot({ secondsDegraded: 12 })], 'cpu');
    clock.advanceTo(T('10:01:10'));
    agg.onSnapshots([snapshot({ secondsDegraded: 80 })], 'cpu'); // never more than the 5 s between readings
    agg.close();
    const [m0, m1] = writes.flat();
    expect(m0).toMatchObject({ minute: T('10:00:00'), framesInspected: 3, framesInspectedDegraded: 2, secondsDegraded: 7 });
    expect(m1).toMatchObject({ minute: T('10:01:00'), framesInspectedDegraded: 0, secondsDegraded: 10 });
    const merged = mergeMinutes(m0, { ...emptyMinute('cam1', m0.minute), framesInspectedDegraded: 4, secondsDegraded: 3.5 });
    expect(merged).toMatchObject({ framesInspectedDegraded: 6, secondsDegraded: 10.5 });
    const row = toWireRow(merged);
    expect(row).toMatchObject({ frames_inspected_degraded: 6, seconds_degraded: 10.5 });
    const doc = JSON.parse(gunzipSync(buildBatch({ site: 'plant', line: 'line1' }, T('10:00:00'), T('10:02:00'), [row, toWireRow(m1)]).body).toString('utf8'));
    expect(checkSchema(AGGREGATES_SCHEMA, doc)).toEqual([]);
    expect(checkSchema(AGGREGATES_SCHEMA, { ...doc, rows: [{ ...row, seconds_degraded: 61 }] })).toEqual(['$.rows[0].seconds_degraded: 61 > 60']);
  });
});

describe('the health events table', () => {
  it('is history and outbox in one: unsent rows in order, marked sent on PUBACK, replayed after an outage, purged only once sent', async () => {
    const store = openStore(join(dir, 'health.db'), { outboxMaxRows: 10, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    try {
      const old = T('10:00:00') - 40 * 86_400_000;
      store.recordHealth(event({ id: 'a', since: old }));
      store.recordHealth(event({ id: 'b', camera: 'cam2', since: old, state: 'ok', reasons: [] }));
      store.recordHealth(event({ id: 'c' }));
      const box = store.healthOutbox;
      expect(box.depth()).toBe(3);
      expect(box.depth('cam2')).toBe(1);
      const batch = box.pendingBatch(10);
      expect(batch.map((i) => [i.event.id, i.event.state, i.replayed])).toEqual([['a', 'degraded', false], ['b', 'ok', false], ['c', 'degraded', false]]);
      expect(box.pendingBatch(10, batch[0].id).map((i) => i.event.id)).toEqual(['b', 'c']);
      expect(box.markSent([batch[0].id, batch[0].id], T('10:00:01'))).toBe(1);
      expect(box.markAllReplayed()).toBe(2);
      expect(box.pendingBatch(10).map((i) => [i.event.id, i.replayed])).toEqual([['b', true], ['c', true]]);
      expect(store.recentHealth({ limit: 10 }).map((r) => [r.id, r.sentAt])).toEqual([['c', undefined], ['b', undefined], ['a', T('10:00:01')]]);
      // Retention removes the old sent one, never the old unsent one.
      expect(await store.purgeHealthOlderThan(30, { now: T('10:00:00') })).toBe(1);
      expect(store.recentHealth({ limit: 10 }).map((r) => r.id)).toEqual(['c', 'b']);
      expect(store.recentHealth({ limit: 10 })[0].values).toEqual(VALUES);
    } finally {
      store.close();
    }
  });
});
