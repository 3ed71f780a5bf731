import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { operatorChecker } from '../../src/overlay/auth.js';
import { verdictPayload } from '../../src/publish/verdict-payload.js';
import { MinuteAggregator } from '../../src/store/aggregator.js';
import { openStore } from '../../src/store/index.js';
import { STANDING_MISSED } from '../../src/store/verdicts.js';
import type { MinuteStats } from '../../src/store/minute-stats.js';
import { toWireRow } from '../../src/sync/batch.js';
import { refusalOf } from '../../src/verdicts/refusal.js';
import { parseJudgeRequest, parseMissedRequest } from '../../src/verdicts/validate.js';
import { makeEvent } from '../helpers/events.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';

const ROOT = join(import.meta.dirname, '../..');
const VERDICT_SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/verdict.schema.json'), 'utf8')) as JsonSchema;
const AGG_SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/aggregates.schema.json'), 'utf8')) as JsonSchema;
const ROW_SCHEMA: JsonSchema = { ...AGG_SCHEMA.$defs!.row, $defs: AGG_SCHEMA.$defs };
const dir = mkdtempSync(join(tmpdir(), 'linesight-verdicts-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The refusal `fn` throws: its reason and message. */
function refusal(fn: () => unknown): { reason: string | undefined; message: string } {
  try {
    fn();
  } catch (err) {
    return { reason: refusalOf(err), message: (err as Error).message };
  }
  throw new Error('expected a refusal but the call returned');
}

const req = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;
const drawn = { class: 'dent', box: { x: 10, y: 10, w: 20, h: 20 }, frame: { width: 100, height: 80 }, operator: 'st1' };

describe('verdict requests', () => {
  it('say what they expected and what they found', () => {
    expect(parseJudgeRequest({ verdict: 'confirmed', operator: 'st1' })).toEqual({ verdict: 'confirmed', operator: 'st1', replace: false });
    expect(refusal(() => parseJudgeRequest([]))).toEqual({ reason: 'bad_request', message: 'Expected the body to be a JSON object but received an array of 0' });
    expect(refusal(() => parseJudgeRequest({ verdict: 'missed', operator: 'st1' })).message).toBe('Expected "verdict" to be "confirmed" or "false_alarm" but received "missed" (string)');
    expect(refusal(() => parseJudgeRequest({ verdict: 'confirmed', operator: 'x'.repeat(65) })).message).toMatch(/^Expected "operator" to be the station or operator name, 1–64 characters/);
    expect(refusal(() => parseJudgeRequest({ verdict: 'confirmed', operator: 'a', replace: 'yes' })).message).toBe('Expected "replace" to be true or false but received "yes" (string)');
    expect(parseMissedRequest(drawn, ['scratch', 'dent'])).toEqual({ className: 'dent', box: drawn.box, frame: drawn.frame, operator: 'st1' });
    expect(refusal(() => parseMissedRequest(drawn, ['scratch'])).message).toBe('Expected "class" to be one of the model\'s classes ("scratch") but received "dent" (string)');
    expect(refusal(() => parseMissedRequest({ ...drawn, box: { x: 90, y: 10, w: 20, h: 20 } }, ['dent'])).message)
      .toBe('Expected the box to lie within the 100×80 frame but received x 90, y 10, w 20, h 20');
    expect(refusal(() => parseMissedRequest({ ...drawn, box: { x: 1, y: 1, w: 1, h: 20 } }, ['dent'])).message).toBe('Expected a box at least 2×2 source pixels but received 1×20');
    expect(refusal(() => parseMissedRequest({ ...drawn, frame: { width: 100, height: 80, ts: 'yesterday' } }, ['dent'])).message).toMatch(/^Expected frame.ts to be an ISO 8601 time/);
    expect(parseMissedRequest({ ...drawn, frame: { width: 100, height: 80, ts: '2026-12-05T09:30:00.250Z' } }, ['dent']).frame.ts).toBe(Date.UTC(2026, 11, 5, 9, 30, 0, 250));
    expect(parseMissedRequest({ ...drawn, frame: { width: 100, height: 80, ts: 1_700_000_000_000 } }, ['dent']).frame.ts).toBe(1_700_000_000_000);
  });
});

describe('operatorChecker', () => {
  it('is open with no token at all, and wants the operator token once any is set', () => {
    expect(operatorChecker(undefined, undefined)(req())).toBe('ok');
    const both = operatorChecker('view', 'op');
    expect([both(req()), both(req('Bearer op')), both(req('Bearer view')), both(req('Bearer guess'))]).toEqual(['missing', 'ok', 'viewer', 'wrong']);
    // Only the viewer token set: nobody judges (the viewer is told why).
    expect(operatorChecker('view', undefined)(req('Bearer view'))).toBe('viewer');
    expect(operatorChecker(undefined, 'op')(req('Bearer op'))).toBe('ok');
  });
});

describe('the verdicts table', () => {
  it('judges stored alerts only, once unless replaced, and keeps the history; retention spares unsent verdicts', async () => {
    const store = openStore(join(dir, 'table.db'), { outboxMaxRows: 100, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    try {
      const event = makeEvent({ className: 'dent' });
      store.recordEvent(event);
      const input = { alertId: event.id, verdict: 'confirmed' as const, operator: 'st1', ts: 1000, replace: false };
      expect(refusal(() => store.judgeAlert({ ...input, id: 'v0', alertId: 'nope' })).reason).toBe('unknown_alert');
      const first = store.judgeAlert({ ...input, id: 'v1' });
      expect(first).toEqual({ verdict: { id: 'v1', alertId: event.id, camera: 'cam1', verdict: 'confirmed', className: 'dent', box: event.box, frame: event.frame, operator: 'st1', ts: 1000 } });
      expect(refusal(() => store.judgeAlert({ ...input, id: 'v2', operator: 'st2' }))).toEqual({
        reason: 'already_judged', message: `Expected an alert without a verdict (or "replace": true) but alert ${event.id} is already judged confirmed by "st1"`,
      });
      const second = store.judgeAlert({ ...input, id: 'v3', verdict: 'false_alarm', replace: true, ts: 2000 });
      expect(second.verdict.replaces).toBe('v1');
      expect(second.superseded?.id).toBe('v1');
      expect(store.latestVerdicts([event.id, 'other']).get(event.id)?.id).toBe('v3');
      expect(store.latestVerdicts([event.id]).size).toBe(1);
      const pending = store.verdictOutbox.pendingBatch(10);
      expect(pending.map((p) => p.verdict.id)).toEqual(['v1', 'v3']);
      // Unsent verdicts outrank retention; sent ones past it go.
      expect(await store.purgeOlderThan(0, { now: 10_000 })).toBe(0);
      expect(store.verdictOutbox.depth()).toBe(2);
      store.verdictOutbox.markSent([pending[0].id], 5000);
      await store.purgeOlderThan(0, { now: 10_000 });
      expect(store.verdictOutbox.pendingBatch(10).map((p) => p.verdict.id)).toEqual(['v3']);
      expect(store.latestVerdicts([event.id]).get(event.id)?.id).toBe('v3');
    } finally {
      store.close();
    }
  });

  it('takes back a missed defect once, refuses what is not one, and leaves it out of the standing missed defects', () => {
    const path = join(dir, 'withdraw.db');
    const store = openStore(path, { outboxMaxRows: 100, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    try {
      const event = makeEvent({ className: 'dent' });
      store.recordEvent(event);
      store.judgeAlert({ id: 'v1', alertId: event.id, verdict: 'confirmed', operator: 'st1', ts: 1000, replace: false });
      const drawn = { alertId: null, camera: 'cam1', verdict: 'missed' as const, className: 'dent', frame: { width: 100, height: 80, ts: 900 }, operator: 'st1', ts: 1100 };
      store.recordMissed({ ...drawn, id: 'm1', box: { x: 1, y: 2, w: 3, h: 4 } });
      store.recordMissed({ ...drawn, id: 'm2', box: { x: 5, y: 6, w: 7, h: 8 } });
      const back = (verdictId: string, id = `w-${verdictId}`) => store.withdrawMissed({ id, verdictId, operator: 'st2', ts: 2000 });
      expect(refusal(() => back('nope')).reason).toBe('unknown_verdict');
      expect(refusal(() => back('v1'))).toEqual({
        reason: 'bad_request',
        message: `Expected the id of a missed defect but v1 is a verdict on alert ${event.id}: change that with POST /api/alerts/${event.id}/verdict and "replace": true`,
      });
      expect(back('m1')).toEqual({ ...drawn, id: 'w-m1', box: { x: 1, y: 2, w: 3, h: 4 }, operator: 'st2', ts: 2000, replaces: 'm1', withdrawn: true });
      expect(refusal(() => back('m1', 'w2'))).toEqual({ reason: 'already_withdrawn', message: 'Expected a missed defect that stands but m1 was already withdrawn by "st2"' });
      expect(refusal(() => back('w-m1')).reason).toBe('bad_request');
      expect(store.verdictOutbox.pendingBatch(10).map((p) => p.verdict.id)).toEqual(['v1', 'm1', 'm2', 'w-m1']);
      // What a page that connects is shown: the last missed verdicts, oldest first.
      expect(store.recentMissed(10).map((v) => v.id)).toEqual(['m1', 'm2', 'w-m1']);
      expect(store.recentMissed(2).map((v) => v.id)).toEqual(['m2', 'w-m1']);
      const db = new Database(path, { readonly: true });
      try {
        expect(db.prepare(`SELECT id FROM verdicts WHERE ${STANDING_MISSED} ORDER BY pos`).all()).toEqual([{ id: 'm2' }]);
      } finally {
        db.close();
      }
    } finally {
      store.close();
    }
  });
});

describe('verdict statistics', () => {
  it('count the latest verdict per alert: a replacement in a later minute subtracts the old one there', () => {
    const clock = new FakeClock('2026-12-05T09:00:30.000Z');
    const rows: MinuteStats[] = [];
    const aggregator = new MinuteAggregator({ sink: { writeMinutes: (r) => void rows.push(...r) }, log: silentLogger(), clock });
    aggregator.onVerdict([{ camera: 'cam1', className: 'dent', verdict: 'confirmed', delta: 1 }]);
    clock.advance(60_000);
    aggregator.onVerdict([
      { camera: 'cam1', className: 'dent', verdict: 'false_alarm', delta: 1 },
      { camera: 'cam1', className: 'dent', verdict: 'confirmed', delta: -1 },
      { camera: 'cam1', className: 'scratch', verdict: 'missed', delta: 1 },
    ]);
    aggregator.close();
    expect(rows.map((r) => [new Date(r.minute).toISOString(), r.classes])).toEqual([
      ['2026-12-05T09:00:00.000Z', { dent: { detections: 0, events: 0, confidenceSum: 0, confidenceMax: 0, verdicts: { confirmed: 1, falseAlarms: 0, missed: 0 } } }],
      ['2026-12-05T09:01:00.000Z', {
        dent: { detections: 0, events: 0, confidenceSum: 0, confidenceMax: 0, verdicts: { confirmed: -1, falseAlarms: 1, missed: 0 } },
        scratch: { detections: 0, events: 0, confidenceSum: 0, confidenceMax: 0, verdicts: { confirmed: 0, falseAlarms: 0, missed: 1 } },
      }],
    ]);
    const wire = toWireRow(rows[1]);
    expect(wire).toMatchObject({ confirmed: -1, false_alarms: 1, missed: 1, classes: { dent: { confirmed: -1, false_alarms: 1, missed: 0 }, scratch: { missed: 1 } } });
    expect(checkSchema(ROW_SCHEMA, wire)).toEqual([]);
    // A minute without verdicts keeps the row as it was.
    const plain = toWireRow({ ...rows[0], classes: { dent: { detections: 1, events: 1, confidenceSum: 0.9, confidenceMax: 0.9 } } });
    expect(plain).not.toHaveProperty('confirmed');
    expect(plain.classes.dent).not.toHaveProperty('missed');
  });

  it('survive the round trip through SQLite, merging two halves of a minute', () => {
    const store = openStore(join(dir, 'stats.db'), { outboxMaxRows: 100, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    try {
      const clock = new FakeClock('2026-12-05T09:00:30.000Z');
      for (let i = 0; i < 2; i++) {
        const aggregator = new MinuteAggregator({ sink: store.statistics(), log: silentLogger(), clock });
        aggregator.onVerdict([{ camera: 'cam1', className: 'dent', verdict: 'missed', delta: 1 }]);
        aggregator.close();
      }
      const [row] = store.statistics().minutes(0, Number.MAX_SAFE_INTEGER);
      expect(row.classes.dent.verdicts).toEqual({ confirmed: 0, falseAlarms: 0, missed: 2 });
    } finally {
      store.close();
    }
  });
});

describe('the verdict payload', () => {
  it('matches docs/verdict.schema.json for a replacement and a missed defect', () => {
    const base = { camera: 'cam1', className: 'dent', box: { x: 1, y: 2, w: 3, h: 4 }, frame: { width: 100, height: 80, ts: 1_700_000_000_000 }, operator: 'st1', ts: 1_700_000_001_000 };
    const replacement = verdictPayload({
      id: 1, createdAt: 0, replayed: true,
      verdict: { ...base, id: '0190a0a0-0000-7000-8000-000000000002', alertId: '0190a0a0-0000-7000-8000-000000000001', verdict: 'false_alarm', replaces: '0190a0a0-0000-7000-8000-000000000003' },
    }, { site: 'plant', line: 'l1' });
    expect(replacement).toEqual({
      schema: 'linesight.verdict/1', site: 'plant', line: 'l1', id: '0190a0a0-0000-7000-8000-000000000002', alert_id: '0190a0a0-0000-7000-8000-000000000001',
      camera: 'cam1', verdict: 'false_alarm', class: 'dent', box: { x: 1, y: 2, w: 3, h: 4 }, frame: { width: 100, height: 80, ts: '2023-11-14T22:13:20.000Z' },
      operator: 'st1', ts: '2023-11-14T22:13:21.000Z', replaces: '0190a0a0-0000-7000-8000-000000000003', replayed: true,
    });
    expect(checkSchema(VERDICT_SCHEMA, replacement)).toEqual([]);
    const missed = verdictPayload({ id: 2, createdAt: 0, replayed: false, verdict: { ...base, id: '0190a0a0-0000-7000-8000-000000000004', alertId: null, verdict: 'missed' } }, { site: 'plant', line: 'l1' });
    expect(checkSchema(VERDICT_SCHEMA, missed)).toEqual([]);
    expect(checkSchema(VERDICT_SCHEMA, { ...missed, alert_id: 'not-a-uuid' })).not.toEqual([]);
    const withdrawal = verdictPayload({
      id: 3, createdAt: 0, replayed: false,
      verdict: { ...base, id: '0190a0a0-0000-7000-8000-000000000005', alertId: null, verdict: 'missed', replaces: '0190a0a0-0000-7000-8000-000000000004', withdrawn: true },
    }, { site: 'plant', line: 'l1' });
    expect(withdrawal).toMatchObject({ verdict: 'missed', replaces: '0190a0a0-0000-7000-8000-000000000004', withdrawn: true });
    expect(checkSchema(VERDICT_SCHEMA, withdrawal)).toEqual([]);
    expect(checkSchema(VERDICT_SCHEMA, { ...withdrawal, withdrawn: false })).not.toEqual([]);
  });
});
