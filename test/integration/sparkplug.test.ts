/**
 * The Sparkplug B edge node against a real mosquitto and a real SQLite store,
 * seen by a test host application that decodes with sparkplug-payload.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SparkplugConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { startSparkplug, type SparkplugNode } from '../../src/sparkplug/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { CameraSnapshot, DefectEvent } from '../../src/types.js';
import { makeEvent } from '../helpers/events.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning, mqttConfig } from '../helpers/mqtt-config.js';
import { metric, seqRuns, sparkplugHost, type HostMessage, type SparkplugHost } from '../helpers/sparkplug-host.js';
import { sleep, waitFor } from '../helpers/wait.js';

let broker: Mosquitto | undefined;
let host: SparkplugHost | undefined;
let node: SparkplugNode | undefined;
let store: Store | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await node?.stop();
  node = undefined;
  await host?.close();
  host = undefined;
  store?.close();
  store = undefined;
  await broker?.dispose();
  broker = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function snapshot(id: string, over: Partial<CameraSnapshot> = {}): CameraSnapshot {
  return {
    id, state: 'online', fps: 5, framesReceived: 10, framesInspected: 9, restarts: 0,
    framesDropped: { superseded: 1, bad_frame: 0, inference_error: 0, shutdown: 0 }, ...over,
  };
}

function openTempStore(): Store {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-sparkplug-'));
  dirs.push(dir);
  return openStore(join(dir, 'line.db'), { outboxMaxRows: 1000, outboxFullPolicy: 'drop_oldest' }, silentLogger());
}

interface Harness {
  cameras: CameraSnapshot[];
}

function start(url: string, s: Store, over: Partial<SparkplugConfig> = {}, h: Harness = { cameras: [snapshot('cam1'), snapshot('cam2')] }): SparkplugNode {
  return startSparkplug({
    config: { enabled: true, group_id: 'g1', edge_node: 'n1', data_interval: 0.2, ...over },
    mqtt: mqttConfig({ url }), site: 'plant', line: 'line1', brokerUrl: url, embedded: false,
    ledger: s.sparkplugLedger(), log: silentLogger(), tuning: fastTuning,
    sources: {
      cameras: () => h.cameras,
      classNames: () => ['dent', 'scratch'],
      node: () => ({ version: '9.9.9', model: { name: 'm', version: '1', provider: 'cpu' }, outboxDepth: s.depth(), storeState: 'ok' }),
    },
  });
}

const names = (m: HostMessage) => m.metrics.map((x) => x.name);
const value = (m: HostMessage, name: string) => metric(m, name)?.value;

/** Every run of seq (from an NBIRTH) counts up by one, modulo 256. */
function expectConsecutive(messages: readonly HostMessage[]): void {
  for (const run of seqRuns(messages)) {
    expect(run[0]).toBe(0);
    run.forEach((seq, i) => expect(seq).toBe(i % 256));
  }
}

/** Every NDEATH names the bdSeq of a session whose NBIRTH came before it. */
function expectDeathsMatchBirths(messages: readonly HostMessage[]): void {
  const born = new Set<unknown>();
  for (const m of messages) {
    if (m.type === 'NBIRTH') born.add(value(m, 'bdSeq'));
    if (m.type === 'NDEATH') expect(born.has(value(m, 'bdSeq')), `NDEATH bdSeq ${String(value(m, 'bdSeq'))}`).toBe(true);
  }
}

/** The defect metrics of a DDATA match the alert as recorded. */
function expectDefect(m: HostMessage, e: DefectEvent, seq: number, historical: boolean): void {
  expect(value(m, 'defect/id')).toBe(e.id);
  expect(value(m, 'defect/seq')).toBe(seq);
  expect(value(m, 'defect/class')).toBe(e.className);
  expect(value(m, 'defect/confidence')).toBe(e.confidence);
  expect([value(m, 'defect/box/x'), value(m, 'defect/box/y'), value(m, 'defect/box/w'), value(m, 'defect/box/h')]).toEqual([e.box.x, e.box.y, e.box.w, e.box.h]);
  for (const x of m.metrics.filter((y) => y.name.startsWith('defect/'))) {
    expect(x.timestamp).toBe(e.ts);
    expect(x.isHistorical === true).toBe(historical);
  }
}

describe('Sparkplug B edge node (real mosquitto, real SQLite)', () => {
  it('births with every metric, sends defects and changes as DDATA, reborn on request, NDEATH on stop', async () => {
    broker = await startMosquitto();
    host = await sparkplugHost(broker.url, 'g1');
    store = openTempStore();
    const h: Harness = { cameras: [snapshot('cam1'), snapshot('cam2')] };
    node = start(broker.url, store, {}, h);

    const nbirth = await host.next((m) => m.type === 'NBIRTH');
    expect(nbirth.topic).toBe('spBv1.0/g1/NBIRTH/n1');
    expect(nbirth.seq).toBe(0);
    expect(metric(nbirth, 'bdSeq')).toMatchObject({ type: 'Int64', value: 0 });
    expect(metric(nbirth, 'Node Control/Rebirth')).toMatchObject({ type: 'Boolean', value: false });
    expect(value(nbirth, 'version')).toBe('9.9.9');
    expect(value(nbirth, 'model/name')).toBe('m');
    expect(value(nbirth, 'recipe/name')).toBeNull();
    const dbirth1 = await host.next((m) => m.type === 'DBIRTH' && m.device === 'cam1');
    await host.next((m) => m.type === 'DBIRTH' && m.device === 'cam2');
    expect(value(dbirth1, 'state')).toBe('online');
    expect(value(dbirth1, 'coverage/frames_received')).toBe(10);
    expect(value(dbirth1, 'coverage/frames_dropped/superseded')).toBe(1);
    expect(value(dbirth1, 'alerts/scratch')).toBe(0);
    expect(value(dbirth1, 'alerts/dent')).toBe(0);
    expect(metric(dbirth1, 'defect/id')).toMatchObject({ type: 'String', value: null });
    for (const m of [nbirth, dbirth1]) expect(m.qos).toBe(0);

    // A defect goes out as DDATA on its camera's device, with the count of its class.
    const e1 = makeEvent({ camera: 'cam1', className: 'scratch', confidence: 0.8731, box: { x: 10.5, y: 20, w: 30, h: 40.5 } });
    store.recordEvent(e1);
    node.kick();
    const d1 = await host.next((m) => m.type === 'DDATA' && value(m, 'defect/id') === e1.id);
    expect(d1.device).toBe('cam1');
    expectDefect(d1, e1, 1, false);
    expect(value(d1, 'alerts/scratch')).toBe(1);

    // A class the birth did not declare (the model changed): the device is born again first.
    const cam1Births = host.of('DBIRTH', 'cam1').length;
    const e2 = makeEvent({ camera: 'cam1', className: 'crack' });
    store.recordEvent(e2);
    node.kick();
    const d2 = await host.next((m) => m.type === 'DDATA' && value(m, 'defect/id') === e2.id);
    const rebirth1 = host.of('DBIRTH', 'cam1')[cam1Births];
    expect(host.messages.indexOf(rebirth1)).toBeLessThan(host.messages.indexOf(d2));
    expect(value(rebirth1, 'alerts/crack')).toBe(0);
    expect(value(rebirth1, 'defect/id')).toBe(e1.id);
    expect(value(d2, 'alerts/crack')).toBe(1);

    // A changed measure goes out alone; cameras that come and go are born and die.
    h.cameras = [snapshot('cam1'), snapshot('cam2', { fps: 7.46 }), snapshot('cam3')];
    const fps = await host.next((m) => m.type === 'DDATA' && m.device === 'cam2');
    expect(fps.metrics.map((x) => [x.name, x.value])).toEqual([['fps', 7.5]]);
    await host.next((m) => m.type === 'DBIRTH' && m.device === 'cam3');
    h.cameras = [snapshot('cam1'), snapshot('cam3')];
    await host.next((m) => m.type === 'DDEATH' && m.device === 'cam2');

    // A rebirth: same bdSeq, seq from 0, the births carry the last defect and the counts.
    const from = host.messages.length;
    await host.rebirth('n1');
    const reborn = await host.next((m) => m.type === 'NBIRTH', { from });
    expect(reborn.seq).toBe(0);
    expect(value(reborn, 'bdSeq')).toBe(0);
    const redbirth = await host.next((m) => m.type === 'DBIRTH' && m.device === 'cam1', { from });
    expect(value(redbirth, 'defect/id')).toBe(e2.id);
    expect([value(redbirth, 'alerts/scratch'), value(redbirth, 'alerts/crack')]).toEqual([1, 1]);
    expect(host.of('DBIRTH').slice(-2).map((m) => m.device).sort()).toEqual(['cam1', 'cam3']);

    // A clean stop publishes the NDEATH of the session's bdSeq.
    await node.stop();
    node = undefined;
    const death = await host.next((m) => m.type === 'NDEATH');
    expect(death.seq).toBeUndefined();
    expect(names(death)).toEqual(['bdSeq']);
    expect(value(death, 'bdSeq')).toBe(0);

    expectConsecutive(host.messages);
    // Every DDATA metric was declared by its device's latest birth before it.
    const births = new Map<string, Set<string>>();
    for (const m of host.messages) {
      if (m.type === 'DBIRTH') births.set(m.device!, new Set(names(m)));
      if (m.type === 'DDATA') for (const n of names(m)) expect(births.get(m.device!)?.has(n), `${m.device} ${n}`).toBe(true);
    }
  });

  it('replays the defects of a broker outage as historical, and of a restart, with a new bdSeq each time', async () => {
    broker = await startMosquitto({ extraConfig: ['queue_qos0_messages true'] });
    host = await sparkplugHost(broker.url, 'g1', { sessionId: 'sparkplug-host-outage' });
    store = openTempStore();
    node = start(broker.url, store);
    const first = await host.next((m) => m.type === 'NBIRTH');
    await host.next((m) => m.type === 'DBIRTH' && m.device === 'cam2');
    const live = makeEvent({ camera: 'cam1' });
    store.recordEvent(live);
    node.kick();
    await host.next((m) => value(m, 'defect/id') === live.id);

    await broker.stop();
    await waitFor('the edge node to see the outage', () => node!.phase === 'offline', 10_000);
    const during = [makeEvent({ camera: 'cam1', className: 'dent' }), makeEvent({ camera: 'cam2' })];
    for (const e of during) store.recordEvent(e);
    node.kick();
    await sleep(300);
    await broker.start();
    const second = await host.next((m) => m.type === 'NBIRTH' && m !== first, { timeoutMs: 20_000 });
    expect(value(second, 'bdSeq')).toBeGreaterThan(value(first, 'bdSeq') as number);
    const replayed = await Promise.all(during.map((e) => host!.next((m) => value(m, 'defect/id') === e.id)));
    expectDefect(replayed[0], during[0], 2, true);
    expectDefect(replayed[1], during[1], 1, true);
    expect(value(replayed[0], 'alerts/dent')).toBe(1);
    // The count of a replayed defect is today's count, not history.
    expect(metric(replayed[0], 'alerts/dent')?.isHistorical).toBeUndefined();
    const ddataOf = (e: DefectEvent) => host!.of('DDATA').filter((m) => value(m, 'defect/id') === e.id);
    expect(ddataOf(live)).toHaveLength(1); // a birth restates the last defect; no DDATA repeats it

    // A restart: alerts recorded while linesight was stopped come as history; bdSeq survives.
    const beforeStop = host.messages.length;
    await node.stop();
    node = undefined;
    const death = await host.next((m) => m.type === 'NDEATH', { from: beforeStop });
    expect(value(death, 'bdSeq')).toBe(value(second, 'bdSeq'));
    const stopped = makeEvent({ camera: 'cam2', className: 'dent' });
    store.recordEvent(stopped);
    const from = host.messages.length;
    node = start(broker.url, store);
    const third = await host.next((m) => m.type === 'NBIRTH', { from });
    expect(value(third, 'bdSeq')).toBe((value(second, 'bdSeq') as number) + 1);
    const after = await host.next((m) => value(m, 'defect/id') === stopped.id, { from });
    expectDefect(after, stopped, 2, true);
    await sleep(500);
    // Nothing sent before the restart is sent again.
    for (const e of [live, ...during, stopped]) expect(ddataOf(e)).toHaveLength(1);
    expectConsecutive(host.messages);
    expectDeathsMatchBirths(host.messages);
  });

  it('waits for the primary host to be online before its births, and dies when it goes offline', async () => {
    broker = await startMosquitto();
    host = await sparkplugHost(broker.url, 'g1');
    store = openTempStore();
    const t0 = Date.now();
    await host.state('scada', false, t0);
    node = start(broker.url, store, { primary_host: 'scada' });
    await waitFor('the edge node to connect', () => node!.phase === 'waiting', 10_000);
    // A STATE older than the last one seen is stale: ignored.
    await host.state('scada', true, t0 - 1000);
    await sleep(800);
    expect(host.messages).toEqual([]);

    await host.state('scada', true, t0 + 1);
    const birth = await host.next((m) => m.type === 'NBIRTH');
    await host.next((m) => m.type === 'DBIRTH' && m.device === 'cam2');

    await host.state('scada', false, t0 + 2);
    const death = await host.next((m) => m.type === 'NDEATH');
    expect(value(death, 'bdSeq')).toBe(value(birth, 'bdSeq'));
    // It reconnects and waits again: no birth while the host is offline.
    await waitFor('the edge node to reconnect and wait', () => node!.phase === 'waiting', 10_000);
    await sleep(800);
    expect(host.of('NBIRTH')).toHaveLength(1);

    const from = host.messages.length;
    await host.state('scada', true, t0 + 3);
    const again = await host.next((m) => m.type === 'NBIRTH', { from });
    expect(value(again, 'bdSeq')).toBe((value(birth, 'bdSeq') as number) + 1);
    expectConsecutive(host.messages);
    expectDeathsMatchBirths(host.messages);
  });

  it('ignores malformed commands and unknown command metrics, and stays born', async () => {
    broker = await startMosquitto();
    host = await sparkplugHost(broker.url, 'g1');
    store = openTempStore();
    node = start(broker.url, store);
    await host.next((m) => m.type === 'DBIRTH' && m.device === 'cam2');
    await host.raw('spBv1.0/g1/NCMD/n1', Buffer.from([0xff, 0xff, 0xff]));
    await sleep(300);
    expect(node.phase).toBe('born');
    const from = host.messages.length;
    await host.rebirth('n1');
    await host.next((m) => m.type === 'NBIRTH', { from });
  });
});

describe('Sparkplug ledger (real SQLite)', () => {
  it('hands out bdSeq 0–255 across reopenings, wrapping after 255', () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-sparkplug-'));
    dirs.push(dir);
    const path = join(dir, 'line.db');
    const open = () => openStore(path, { outboxMaxRows: 1000, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    let s = open();
    expect([s.sparkplugLedger().takeBdSeq(), s.sparkplugLedger().takeBdSeq()]).toEqual([0, 1]);
    s.close();
    s = open();
    const ledger = s.sparkplugLedger();
    expect(ledger.takeBdSeq()).toBe(2);
    for (let i = 3; i < 255; i++) ledger.takeBdSeq();
    expect([ledger.takeBdSeq(), ledger.takeBdSeq(), ledger.takeBdSeq()]).toEqual([255, 0, 1]);
    s.close();
  });

  it('keeps a cursor over the alert history that survives reopening and a purge that empties it', async () => {
    store = openTempStore();
    const ledger = store.sparkplugLedger();
    const events = [makeEvent({ camera: 'cam1', className: 'dent' }), makeEvent({ camera: 'cam2' }), makeEvent({ camera: 'cam1' })];
    for (const e of events) store.recordEvent(e);
    expect(ledger.cursor()).toBe(0);
    const all = ledger.alertsAfter(0, 10);
    expect(all.map((a) => [a.alert.id, a.alert.seq])).toEqual([[events[0].id, 1], [events[1].id, 1], [events[2].id, 2]]);
    expect(ledger.alertsAfter(all[0].pos, 1).map((a) => a.alert.id)).toEqual([events[1].id]);
    ledger.advance(all[1].pos);
    ledger.advance(all[0].pos); // never back
    expect(ledger.cursor()).toBe(all[1].pos);
    expect(ledger.lastAlert('cam1', all[1].pos)?.alert.id).toBe(events[0].id);
    expect(ledger.lastAlert('cam1', all[2].pos)?.alert.id).toBe(events[2].id);
    expect(ledger.lastAlert('cam3', all[2].pos)).toBeUndefined();
    expect(ledger.classCounts(all[2].pos)).toEqual(new Map([['cam1', new Map([['dent', 1], ['scratch', 1]])], ['cam2', new Map([['scratch', 1]])]]));

    // Sent, then purged past retention: SQLite may hand out the same rowids again, so the cursor starts over.
    ledger.advance(all[2].pos);
    store.markSent(store.pendingBatch(10).map((i) => i.id));
    expect(await store.purgeOlderThan(1, { now: Date.now() + 3 * 86_400_000 })).toBe(3);
    const later = makeEvent({ camera: 'cam1' });
    store.recordEvent(later);
    const [found] = ledger.alertsAfter(ledger.cursor(), 10);
    expect(found.alert.id).toBe(later.id);
    expect(ledger.cursor()).toBe(0);

    // The same rowid as the cursor's, given to a later alert: told apart by its commit time.
    ledger.advance(found.pos);
    store.markSent(store.pendingBatch(10).map((i) => i.id));
    expect(await store.purgeOlderThan(1, { now: Date.now() + 3 * 86_400_000 })).toBe(1);
    await sleep(5);
    const reused = makeEvent({ camera: 'cam1' });
    store.recordEvent(reused);
    const [again] = ledger.alertsAfter(found.pos, 10);
    expect([again.pos, again.alert.id]).toEqual([found.pos, reused.id]);
  });
});
