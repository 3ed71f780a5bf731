import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import type { HealthChange, HealthSnapshot } from '../../src/health/types.js';
import type { HealthMonitorLike } from '../../src/line-health.js';
import { loadContract } from '../helpers/asyncapi.js';
import { ROOT } from '../helpers/cli.js';
import { makeClip, type SquareSpec } from '../helpers/clips.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning } from '../helpers/mqtt-config.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';
import { sleep, waitFor } from '../helpers/wait.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const DAY_MS = 86_400_000;
const ROOT_TOPIC = 'linesight/plant-a/l2';

/** Three planted defects, so three alerts with seq 1, 2, 3. */
const PLANTED: SquareSpec[] = [
  { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.3, to: 2 },
  { color: 'green', x: 400, y: 300, w: 60, h: 60, from: 2.5, to: 4 },
  { color: 'red', x: 420, y: 80, w: 60, h: 60, from: 4.5, to: 6 },
];

/** A health monitor the test turns degraded, so the health channel is on the wire too. */
class DrivenMonitor extends EventEmitter<{ change: [HealthChange] }> implements HealthMonitorLike {
  private state: HealthSnapshot = { state: 'ok', reasons: [], since: Date.now(), learning: false };

  constructor(readonly camera: string) {
    super();
  }

  offer(): void {}
  relearn(): void {}
  snapshot(): HealthSnapshot {
    return { ...this.state, reasons: [...this.state.reasons] };
  }

  dark(): void {
    this.state = { state: 'degraded', reasons: ['dark'], since: Date.now(), learning: false };
    this.emit('change', { camera: this.camera, state: 'degraded', reasons: ['dark'], since: this.state.since, values: { brightness: 0.02, contrast: 0.01, sharpness: 3.5, change: 0, stillSeconds: 1 } });
  }

  close(): void {
    this.removeAllListeners();
  }
}

let line: Line | undefined;
let broker: Mosquitto | undefined;
let wire: Subscriber | undefined;
let mes: Subscriber | undefined;

afterEach(async () => {
  await line?.stop();
  line = undefined;
  await wire?.close();
  await mes?.close();
  wire = mes = undefined;
  await broker?.dispose();
  broker = undefined;
  await expectNoStrays();
});
afterAll(() => killStrays());

/** Every message on `linesight/#`, its payload kept raw: a command that is not JSON must not break the capture. */
async function captureAll(url: string): Promise<Subscriber & { raw: Array<{ topic: string; text: string }> }> {
  const sub = await subscribe(url, 'linesight/+/+/+/+'); // only for its client and waitFor; the capture is below
  const raw: Array<{ topic: string; text: string }> = [];
  sub.client.removeAllListeners('message');
  sub.client.on('message', (topic, payload, packet) => {
    const text = payload.toString('utf8');
    raw.push({ topic, text });
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // kept in raw; only commands may be malformed, and they are ours
    }
    sub.messages.push({ topic, body, retain: packet.retain, qos: packet.qos, userProperties: packet.properties?.userProperties });
  });
  await sub.client.subscribeAsync('linesight/#', { qos: 1 });
  return Object.assign(sub, { raw });
}

describe('replay on request and the AsyncAPI contract on the wire (real mosquitto, real line)', () => {
  it('replays exactly the asked alerts, answers each command once per request_id, refuses bad ones, and every message matches docs/asyncapi.yaml', async () => {
    broker = await startMosquitto();
    const capture = await captureAll(broker.url);
    wire = capture;
    // The MES's own client: what linesight publishes, not the commands (some of them are not JSON).
    mes = await subscribe(broker.url, `${ROOT_TOPIC}/+/alert`);
    await mes.client.subscribeAsync([`${ROOT_TOPIC}/+/verdict`, `${ROOT_TOPIC}/cmd/response`, `${ROOT_TOPIC}/status`], { qos: 1 });
    // The MES's production context, retained, so alerts carry one and the context channel is on the wire too.
    await mes.client.publishAsync(`${ROOT_TOPIC}/context`, JSON.stringify({ order: 'PO-4711', lot: 'L-7', ts: new Date(Date.now() - 1000).toISOString() }), { qos: 1, retain: true });
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 7, squares: PLANTED });
    const { config, problems } = validateConfig({
      site: 'plant-a', line: 'l2',
      cameras: [{ id: 'cam1', url: clip, fps: 5, loop: false }],
      model: { path: MODEL, confidence: 0.5 },
      store: { path: join(mkdtempSync(join(tmpdir(), 'linesight-replay-')), 'line.db') },
      mqtt: { url: broker.url, protocol_version: 5, status_interval: 1 },
      overlay: { host: '127.0.0.1', port: 0 },
      mes: { replay_max: 5, replay_rate: 200, shifts: [] },
    });
    expect(problems).toEqual([]);
    let monitor: DrivenMonitor | undefined;
    line = await startLine(config!, silentLogger(), { publisherTuning: fastTuning, healthMonitor: (id) => (monitor = new DrivenMonitor(id)) });
    await waitFor('the clip to end', () => line!.cameras()[0].state === 'stopped', 30_000);
    const live = (m: Received[]) => m.filter((x) => x.topic === `${ROOT_TOPIC}/cam1/alert`);
    await mes.waitFor((m) => live(m).length >= 3, 10_000);
    const original = live(mes.messages).slice(0, 3);
    expect(original.map((a) => a.body.seq)).toEqual([1, 2, 3]);
    expect(original.every((a) => a.body.replayed === false)).toBe(true);

    const ask = async (body: unknown, requestId?: string) => {
      const before = mes!.messages.length;
      await mes!.client.publishAsync(`${ROOT_TOPIC}/cmd/replay`, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
      if (requestId === undefined) return undefined;
      await mes!.waitFor((m) => m.slice(before).some((x) => x.topic === `${ROOT_TOPIC}/cmd/response` && x.body.request_id === requestId), 10_000);
      return mes!.messages.slice(before).find((x) => x.topic === `${ROOT_TOPIC}/cmd/response` && x.body.request_id === requestId)!.body;
    };
    const replayedSince = (from: number) => live(mes!.messages.slice(from)).filter((a) => a.body.replayed === true);

    // 1. Seqs 2–3: exactly those, same ids and seqs, replayed, on the normal alert topic, answered after their PUBACKs.
    let mark = mes.messages.length;
    const first = await ask({ request_id: 'r-1', camera: 'cam1', from_seq: 2, to_seq: 3 }, 'r-1');
    expect(first).toMatchObject({ schema: 'linesight.response/1', request_id: 'r-1', command: 'replay', ok: true, sent: 2, missing: [] });
    const again = replayedSince(mark);
    expect(again.map((a) => [a.body.id, a.body.seq])).toEqual(original.slice(1).map((a) => [a.body.id, a.body.seq]));
    for (const a of again) {
      expect(a.qos).toBe(1);
      expect(a.retain).toBe(false);
      expect(a.userProperties).toMatchObject({ id: a.body.id, schema: 'linesight.alert/1' });
      const { replayed: _r, latency_ms: _l, ...rest } = a.body;
      const { replayed: _r0, latency_ms: _l0, ...was } = original.find((o) => o.body.id === a.body.id)!.body;
      expect(rest).toEqual(was);
    }

    // 2. The same request_id again: the same response, nothing re-published.
    mark = mes.messages.length;
    expect(await ask({ request_id: 'r-1', camera: 'cam1', from_seq: 2, to_seq: 3 }, 'r-1')).toEqual(first);
    await sleep(500);
    expect(replayedSince(mark)).toEqual([]);

    // 3. Seq 1 past retention: the rest is sent, 1 is missing.
    const oldest = line.store.recentAlerts({ limit: 10 }).find((a) => a.seq === 1)!;
    expect(await line.store.purgeOlderThan(1, { now: oldest.ts + 1 + DAY_MS })).toBe(1);
    mark = mes.messages.length;
    expect(await ask({ request_id: 'r-2', camera: 'cam1', from_seq: 1, to_seq: 3 }, 'r-2')).toMatchObject({ ok: true, sent: 2, missing: [[1, 1]] });
    expect(replayedSince(mark).map((a) => a.body.seq)).toEqual([2, 3]);

    // 4. Refusals: each answered with its code, none re-publishes, the line keeps running.
    mark = mes.messages.length;
    const refusals: Array<[unknown, string]> = [
      [{ request_id: 'bad-1', camera: 'cam9', from_seq: 1, to_seq: 2 }, 'unknown_camera'],
      [{ request_id: 'bad-2', camera: 'cam1', from_seq: 3, to_seq: 2 }, 'bad_range'],
      [{ request_id: 'bad-3', camera: 'cam1', from_seq: 1, to_seq: 6 }, 'range_too_large'],
      [{ request_id: 'bad-4', camera: 'cam1', from_seq: 3, to_seq: 4 }, 'out_of_range'],
      [{ request_id: 'bad-5', camera: 'cam1', from_seq: '1', to_seq: 2 }, 'malformed'],
    ];
    for (const [body, code] of refusals) {
      const rid = (body as { request_id: string }).request_id;
      const answer = await ask(body, rid);
      expect(answer).toMatchObject({ request_id: rid, ok: false, sent: 0, missing: [], error: { code } });
      expect((answer!.error as { message: string }).message).toMatch(/^Expected /);
    }
    // Not JSON, and no request_id: nothing to answer; logged, never a crash.
    await ask('{"request_id": ');
    await ask({ camera: 'cam1', from_seq: 1, to_seq: 1 });
    expect(await ask({ request_id: 'r-3', camera: 'cam1', from_seq: 3, to_seq: 3 }, 'r-3')).toMatchObject({ ok: true, sent: 1 });
    expect(replayedSince(mark).map((a) => a.body.seq)).toEqual([3]);
    const responses = mes.messages.slice(mark).filter((x) => x.topic.endsWith('/cmd/response')).map((x) => x.body.request_id);
    expect(responses).toEqual(['bad-1', 'bad-2', 'bad-3', 'bad-4', 'bad-5', 'r-3']);

    // A verdict on an alert, so the verdict channel is on the wire too.
    line.overlaySource().verdict!(original[1].body.id as string, { verdict: 'confirmed', operator: 'station-1' });
    await mes.waitFor((m) => m.some((x) => x.topic === `${ROOT_TOPIC}/cam1/verdict`), 10_000);

    monitor!.dark();
    await wire!.waitFor((m) => m.some((x) => x.topic === `${ROOT_TOPIC}/cam1/health`), 10_000);

    // The line is alive: its status keeps coming after all of it.
    const statuses = mes.messages.filter((x) => x.topic === `${ROOT_TOPIC}/status`).length;
    await mes.waitFor((m) => m.filter((x) => x.topic === `${ROOT_TOPIC}/status`).length > statuses, 5000);
    await line.stop(); // the offline statuses are on the wire too
    line = undefined;
    await sleep(300);

    // Every message seen on linesight/# belongs to a channel of docs/asyncapi.yaml and matches its schema.
    const contract = await loadContract({ prefix: 'linesight', site: 'plant-a', line: 'l2' });
    const seen = new Set<string>();
    const invalid: string[] = [];
    for (const { topic, text } of capture.raw) {
      const { channel, problems } = contract.check(topic, parseOrText(text));
      seen.add(channel);
      if (channel === 'replayCommand' && problems.length > 0) continue; // the malformed commands this test sent
      if (problems.length > 0) invalid.push(`${topic}: ${problems.join('; ')} in ${text.slice(0, 300)}`);
    }
    expect(invalid).toEqual([]);
    expect([...seen]).toEqual(expect.arrayContaining(['alert', 'cameraStatus', 'commandResponse', 'context', 'health', 'nodeStatus', 'replayCommand', 'verdict']));
  });
});

function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
