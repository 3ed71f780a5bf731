import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { ReplayCommands } from '../../src/mes/commands-service.js';
import { shiftPlan } from '../../src/mes/shift-clock.js';
import { ShiftSummaries } from '../../src/mes/shift-service.js';
import { startPublisher, type Publisher } from '../../src/publish/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { emptyMinute } from '../../src/store/minute-stats.js';
import { loadContract } from '../helpers/asyncapi.js';
import { makeEvent } from '../helpers/events.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning, mqttConfig } from '../helpers/mqtt-config.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';

const dir = mkdtempSync(join(tmpdir(), 'linesight-shift-'));
const ROOT = { prefix: 'linesight', site: 'plant', line: 'line1' };
const CAMERAS = ['cam1', 'cam2'];
// 22:00 in Berlin is 21:00Z in March before the change; the next start, 06:00 on the night the clocks go forward, is 04:00Z.
const PLAN = shiftPlan(['06:00', '14:00', '22:00'], 'Europe/Berlin');
const t = (iso: string) => Date.parse(iso);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Rig {
  broker: Mosquitto;
  store: Store;
  publisher: Publisher;
  sub: Subscriber;
  clock: FakeClock;
  summaries(): ShiftSummaries;
}

async function rig(): Promise<Rig> {
  const broker = await startMosquitto();
  cleanups.push(() => broker.dispose());
  const store = openStore(join(dir, 'line.db'), { outboxMaxRows: 1000, outboxFullPolicy: 'drop_oldest' }, silentLogger());
  cleanups.push(() => store.close());
  const publisher = await startPublisher({
    mqtt: mqttConfig({ url: broker.url }), site: ROOT.site, line: ROOT.line, model: { name: 'm', version: '1' }, version: 'test',
    cameras: () => CAMERAS, outbox: store, log: silentLogger(), tuning: fastTuning,
  });
  cleanups.push(() => publisher.stop());
  // A persistent session: the broker keeps what is published while this subscriber reconnects after the broker's restart.
  const sub = await subscribe(broker.url, 'linesight/plant/line1/+/+', { sessionId: `mes-shift-${process.pid}` });
  cleanups.push(() => sub.close());
  // Only the summaries run on the fake clock: the broker connection keeps real time.
  const clock = new FakeClock('2026-03-28T20:40:00Z');
  const summaries = () => {
    const s = new ShiftSummaries({ db: store.statistics().db, plan: PLAN, root: ROOT, cameras: () => CAMERAS, publisher, clock, log: silentLogger(), retentionDays: 30 });
    cleanups.push(() => s.close());
    s.start();
    return s;
  };
  return { broker, store, publisher, sub, clock, summaries };
}

const alertsOf = (m: Received[], camera: string) => m.filter((x) => x.topic === `linesight/plant/line1/${camera}/alert`);
const shiftsOf = (m: Received[], camera: string) => m.filter((x) => x.topic === `linesight/plant/line1/${camera}/shift`);

/** What the MES can work out from the alerts it received: the summary's counts for [start, end). */
function expected(delivered: Received[], start: number, end: number) {
  const unique = new Map(delivered.map((a) => [a.body.id as string, a.body]));
  const inShift = [...unique.values()].filter((a) => t(a.ts as string) >= start && t(a.ts as string) < end);
  const classes: Record<string, number> = {};
  for (const a of inShift) classes[a.class as string] = (classes[a.class as string] ?? 0) + 1;
  const seqs = inShift.map((a) => a.seq as number);
  return {
    alerts: inShift.length, classes,
    first_seq: seqs.length ? Math.min(...seqs) : null, last_seq: seqs.length ? Math.max(...seqs) : null,
  };
}

describe('shift summaries (real mosquitto, fake wall clock)', () => {
  it('count what was delivered, per camera, at the boundary; a shift that ends while linesight and the broker are down is published when they are back', async () => {
    const r = await rig();
    const contract = await loadContract(ROOT);
    r.summaries(); // a new database: starts counting from the last boundary (13:00Z)

    // The evening shift: 13:00Z–21:00Z.
    const record = (camera: string, className: string, iso: string) => r.store.recordEvent(makeEvent({ camera, className, ts: t(iso) }));
    record('cam1', 'scratch', '2026-03-28T12:59:59.999Z'); // the shift before
    for (const [cls, at] of [['scratch', '20:41:00'], ['dent', '20:45:10'], ['scratch', '20:50:00'], ['dent', '20:58:30'], ['scratch', '20:59:59.999']]) {
      record('cam1', cls, `2026-03-28T${at}Z`);
    }
    record('cam2', 'crack', '2026-03-28T20:44:00Z');
    record('cam1', 'hole', '2026-03-28T21:00:00.000Z'); // the night shift
    const minute = (camera: string, iso: string, received: number, inspected: number, degraded: number) =>
      ({ ...emptyMinute(camera, t(iso)), framesReceived: received, framesInspected: inspected, secondsDegraded: degraded });
    r.store.statistics().writeMinutes([
      minute('cam1', '2026-03-28T20:58:00Z', 300, 290, 12.5), minute('cam1', '2026-03-28T20:59:00Z', 300, 300, 0),
      minute('cam1', '2026-03-28T21:00:00Z', 300, 300, 60), minute('cam2', '2026-03-28T20:59:00Z', 150, 149, 0),
    ]);
    r.publisher.kick();
    await r.sub.waitFor((m) => alertsOf(m, 'cam1').length === 7 && alertsOf(m, 'cam2').length === 1);

    r.clock.advanceTo('2026-03-28T21:00:29Z');
    expect(shiftsOf(r.sub.messages, 'cam1')).toEqual([]); // the statistics of the last minute may still be on their way
    r.clock.advanceTo('2026-03-28T21:01:00Z');
    await r.sub.waitFor((m) => shiftsOf(m, 'cam1').length === 1 && shiftsOf(m, 'cam2').length === 1);
    const evening = [t('2026-03-28T13:00:00Z'), t('2026-03-28T21:00:00Z')] as const;
    const cam1 = shiftsOf(r.sub.messages, 'cam1')[0];
    expect(cam1.retain).toBe(false); // a live subscriber gets it as a live message; a later one gets the retained copy
    expect(cam1.userProperties).toMatchObject({ id: cam1.body.id, schema: 'linesight.shift/1' });
    expect(cam1.body).toMatchObject({
      schema: 'linesight.shift/1', site: 'plant', line: 'line1', camera: 'cam1',
      shift: { start: '2026-03-28T13:00:00.000Z', end: '2026-03-28T21:00:00.000Z' },
      ...expected(alertsOf(r.sub.messages, 'cam1'), ...evening), alerts_lost: 0,
      frames_received: 600, frames_inspected: 590, seconds_degraded: 12.5,
    });
    expect(cam1.body).toMatchObject({ alerts: 5, classes: { scratch: 3, dent: 2 }, first_seq: 2, last_seq: 6 });
    expect(shiftsOf(r.sub.messages, 'cam2')[0].body).toMatchObject({ ...expected(alertsOf(r.sub.messages, 'cam2'), ...evening), frames_inspected: 149 });
    for (const m of [...shiftsOf(r.sub.messages, 'cam1'), ...shiftsOf(r.sub.messages, 'cam2')]) expect(contract.check(m.topic, m.body).problems).toEqual([]);

    // linesight stops, then the broker; alerts of the night shift wait in the outbox; the clocks go forward at 01:00Z.
    cleanups.pop()!(); // the summaries' close
    await r.broker.stop();
    record('cam1', 'crack', '2026-03-29T02:10:00Z');
    record('cam1', 'crack', '2026-03-29T03:59:00Z');
    r.clock.advanceTo('2026-03-29T04:05:00Z');
    r.summaries(); // linesight is back: the night shift is summarised and stored, the broker still away
    await r.broker.start();
    await r.sub.waitFor((m) => shiftsOf(m, 'cam1').some((x) => (x.body.shift as { end: string }).end === '2026-03-29T04:00:00.000Z'), 20_000);
    await r.sub.waitFor((m) => alertsOf(m, 'cam1').some((x) => x.body.ts === '2026-03-29T03:59:00.000Z'), 20_000);
    const night = shiftsOf(r.sub.messages, 'cam1').find((x) => (x.body.shift as { end: string }).end === '2026-03-29T04:00:00.000Z')!;
    expect(night.body).toMatchObject({
      shift: { start: '2026-03-28T21:00:00.000Z', end: '2026-03-29T04:00:00.000Z' }, // 7 hours: the night the clocks go forward
      ...expected(alertsOf(r.sub.messages, 'cam1'), t('2026-03-28T21:00:00Z'), t('2026-03-29T04:00:00Z')),
      frames_received: 300, seconds_degraded: 60,
    });
    expect(night.body).toMatchObject({ alerts: 3, classes: { hole: 1, crack: 2 } });
    expect(contract.check(night.topic, night.body).problems).toEqual([]);

    // Retained: a subscriber that comes later gets each camera's newest summary.
    const late = await subscribe(r.broker.url, 'linesight/plant/line1/+/shift');
    cleanups.push(() => late.close());
    await late.waitFor((m) => m.length >= 2);
    expect(late.messages.every((m) => m.retain && (m.body.shift as { end: string }).end === '2026-03-29T04:00:00.000Z')).toBe(true);
  });
});

describe('replay commands across a restart (real mosquitto, real SQLite)', () => {
  it('runs and answers a replay accepted before the stop, and answers a request_id seen before the stop as it did then', async () => {
    const broker = await startMosquitto();
    cleanups.push(() => broker.dispose());
    const path = join(dir, 'commands.db');
    const log = silentLogger();
    const open = async () => {
      const store = openStore(path, { outboxMaxRows: 1000, outboxFullPolicy: 'drop_oldest' }, log);
      const publisher = await startPublisher({
        mqtt: mqttConfig({ url: broker.url }), site: ROOT.site, line: ROOT.line, model: { name: 'm', version: '1' }, version: 'test',
        cameras: () => CAMERAS, outbox: store, log, tuning: fastTuning,
      });
      const commands = new ReplayCommands({
        db: store.statistics().db, root: ROOT, payload: { site: ROOT.site, line: ROOT.line, model: { name: 'm', version: '1' } },
        cameras: () => CAMERAS, publisher, clock: systemClock, log, maxRange: 100, rate: 100, retentionDays: 30,
      });
      return {
        store, publisher, commands,
        close: async () => {
          commands.close();
          await publisher.stop();
          store.close();
        },
      };
    };
    const first = await open();
    const sub = await subscribe(broker.url, 'linesight/plant/line1/cmd/response');
    cleanups.push(() => sub.close());
    await sub.client.subscribeAsync('linesight/plant/line1/cam1/alert', { qos: 1 });
    for (let i = 0; i < 4; i++) first.store.recordEvent(makeEvent({ camera: 'cam1', className: i % 2 ? 'dent' : 'scratch' }));
    first.publisher.kick();
    await sub.waitFor((m) => alertsOf(m, 'cam1').length === 4);
    first.commands.start();
    await sub.client.publishAsync('linesight/plant/line1/cmd/replay', JSON.stringify({ request_id: 'before', camera: 'cam1', from_seq: 1, to_seq: 2 }), { qos: 1 });
    await sub.waitFor((m) => m.some((x) => x.body.request_id === 'before'));
    const answered = sub.messages.find((x) => x.body.request_id === 'before')!.body;
    expect(answered).toMatchObject({ ok: true, sent: 2 });
    // A replay accepted just before the stop, whose alerts never went out (what a stop mid-replay leaves).
    first.store.statistics().db.prepare('INSERT INTO mes_commands (request_id, command, body, created_at) VALUES (?, ?, ?, ?)')
      .run('cut', 'replay', JSON.stringify({ request_id: 'cut', camera: 'cam1', from_seq: 3, to_seq: 4 }), Date.now());
    await first.close();

    const mark = sub.messages.length;
    const second = await open();
    cleanups.push(() => second.close());
    second.commands.start();
    await sub.waitFor((m) => m.slice(mark).some((x) => x.body.request_id === 'cut'));
    expect(sub.messages.slice(mark).find((x) => x.body.request_id === 'cut')!.body).toMatchObject({ ok: true, sent: 2, missing: [] });
    expect(alertsOf(sub.messages.slice(mark), 'cam1').map((a) => [a.body.seq, a.body.replayed])).toEqual([[3, true], [4, true]]);
    await sub.client.publishAsync('linesight/plant/line1/cmd/replay', JSON.stringify({ request_id: 'before', camera: 'cam1', from_seq: 1, to_seq: 2 }), { qos: 1 });
    await sub.waitFor((m) => m.slice(mark).some((x) => x.body.request_id === 'before'));
    expect(sub.messages.slice(mark).find((x) => x.body.request_id === 'before')!.body).toEqual(answered);
    expect(alertsOf(sub.messages.slice(mark), 'cam1').map((a) => a.body.seq)).toEqual([3, 4]);
  });
});
