import { get } from 'sparkplug-payload';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { isLinesightError } from '../../src/errors.js';
import {
  changedMetrics, countMetrics, defectMetrics, deviceMetrics, nodeBirthMetrics, type MetricValue,
} from '../../src/sparkplug/metrics.js';
import { deathPayload, encodePayload, parseHostState, parseNodeCommand } from '../../src/sparkplug/payloads.js';
import { deviceTopic, nodeTopic, stateTopic } from '../../src/sparkplug/topics.js';
import type { CameraSnapshot } from '../../src/types.js';

const codec = get('spBv1.0')!;
const minimal = { cameras: [{ id: 'cam1', url: 'rtsp://10.0.0.5/s1' }], model: { path: 'm.onnx' } };

const snapshot: CameraSnapshot = {
  id: 'cam1', state: 'online', fps: 4.96, framesReceived: 120, framesInspected: 100, restarts: 0,
  framesDropped: { superseded: 15, bad_frame: 2, inference_error: 0, shutdown: 3 },
  health: { state: 'degraded', reasons: ['dark', 'blurred'], since: 0, learning: false },
};

describe('mqtt.sparkplug config', () => {
  it('is off unless enabled, with defaults for the rest', () => {
    expect(validateConfig(minimal).config!.mqtt.sparkplug).toBeUndefined();
    const { config, problems } = validateConfig({ ...minimal, mqtt: { sparkplug: { enabled: true } } });
    expect(problems).toEqual([]);
    expect(config!.mqtt.sparkplug).toEqual({ enabled: true, data_interval: 1 });
    expect(validateConfig({ ...minimal, mqtt: { sparkplug: {} } }).config!.mqtt.sparkplug!.enabled).toBe(false);
  });

  it('names bad ids, URLs and unknown keys by their path', () => {
    const { problems } = validateConfig({
      ...minimal, mqtt: { sparkplug: { enabled: true, group_id: 'a/b', edge_node: '+', primary_host: '', url: 'http://x', data_interval: 0, alias: true } },
    });
    const paths = problems.map((p) => p.path).sort();
    expect(paths).toEqual(['mqtt.sparkplug.alias', 'mqtt.sparkplug.data_interval', 'mqtt.sparkplug.edge_node', 'mqtt.sparkplug.group_id', 'mqtt.sparkplug.primary_host', 'mqtt.sparkplug.url']);
    expect(problems.find((p) => p.path === 'mqtt.sparkplug.group_id')!.message).toContain('"a/b"');
  });
});

describe('Sparkplug topics', () => {
  it('follows the spBv1.0 namespace', () => {
    const id = { group: 'plant', node: 'line1' };
    expect(nodeTopic(id, 'NBIRTH')).toBe('spBv1.0/plant/NBIRTH/line1');
    expect(deviceTopic(id, 'DDATA', 'cam1')).toBe('spBv1.0/plant/DDATA/line1/cam1');
    expect(stateTopic('scada')).toBe('spBv1.0/STATE/scada');
  });
});

describe('Sparkplug metrics', () => {
  it('births the node with bdSeq and the rebirth control first', () => {
    const metrics = nodeBirthMetrics(7, { version: '0.4.0', model: { name: 'm', version: '2', provider: 'cuda' }, outboxDepth: 4 });
    expect(metrics.map((m) => [m.name, m.type, m.value])).toEqual([
      ['bdSeq', 'Int64', 7],
      ['Node Control/Rebirth', 'Boolean', false],
      ['version', 'String', '0.4.0'],
      ['model/name', 'String', 'm'],
      ['model/version', 'String', '2'],
      ['model/provider', 'String', 'cuda'],
      ['recipe/name', 'String', null],
      ['store/outbox_depth', 'Int64', 4],
      ['store/state', 'String', null],
    ]);
  });

  it('describes a camera: state, health, rate to 0.1, coverage by reason, model', () => {
    const byName = Object.fromEntries(deviceMetrics(snapshot, { name: 'm', version: '2' }).map((m) => [m.name, m.value]));
    expect(byName).toEqual({
      'state': 'online',
      'health/state': 'degraded',
      'health/reasons': 'dark,blurred',
      'fps': 5,
      'coverage/frames_received': 120,
      'coverage/frames_inspected': 100,
      'coverage/frames_dropped': 20,
      'coverage/frames_dropped/superseded': 15,
      'coverage/frames_dropped/bad_frame': 2,
      'coverage/frames_dropped/inference_error': 0,
      'coverage/frames_dropped/shutdown': 3,
      'model/name': 'm',
      'model/version': '2',
    });
    const unwatched = deviceMetrics({ ...snapshot, health: undefined }, { name: 'm', version: '2' });
    expect(unwatched.filter((m) => m.name.startsWith('health/')).map((m) => m.value)).toEqual([null, null]);
  });

  it('counts every class, sorted, zero when none', () => {
    expect(countMetrics(['scratch', 'dent', 'scratch'], new Map([['scratch', 3]])).map((m) => [m.name, m.value]))
      .toEqual([['alerts/dent', 0], ['alerts/scratch', 3]]);
  });

  it('stamps a defect with its capture time, rounds as the JSON alert does, and flags history', () => {
    const alert = {
      id: '0190d1f2-0000-7000-8000-000000000001', camera: 'cam1', trackId: 3, classId: 1, className: 'dent', confidence: 0.876543,
      box: { x: 10.26, y: 20.04, w: 30, h: 40.56 }, frame: { width: 1280, height: 720, ts: 1_700_000_000_000 }, ts: 1_700_000_000_100,
      confirmedAt: 1_700_000_000_150, seq: 42,
    };
    const live = defectMetrics(alert);
    expect(live.map((m) => [m.name, m.value])).toEqual([
      ['defect/id', alert.id], ['defect/seq', 42], ['defect/class', 'dent'], ['defect/confidence', 0.8765],
      ['defect/box/x', 10.3], ['defect/box/y', 20], ['defect/box/w', 30], ['defect/box/h', 40.6],
      ['defect/frame/width', 1280], ['defect/frame/height', 720],
    ]);
    expect(live.every((m) => m.timestamp === alert.ts && m.isHistorical === undefined)).toBe(true);
    expect(defectMetrics(alert, true).every((m) => m.isHistorical === true)).toBe(true);
    const none = defectMetrics(undefined);
    expect(none.every((m) => m.value === null && m.timestamp === undefined)).toBe(true);
    expect(none.map((m) => m.name)).toEqual(live.map((m) => m.name));
  });

  it('reports only what changed since it was last sent', () => {
    const sent = new Map<string, MetricValue>([['fps', 5], ['state', 'online']]);
    const changed = changedMetrics(sent, [{ name: 'fps', type: 'Float', value: 5 }, { name: 'state', type: 'String', value: 'reconnecting' }, { name: 'new', type: 'Int64', value: 0 }]);
    expect(changed.map((m) => m.name)).toEqual(['state', 'new']);
    expect(sent.get('state')).toBe('reconnecting');
    expect(changedMetrics(sent, [{ name: 'state', type: 'String', value: 'reconnecting' }])).toEqual([]);
  });
});

describe('Sparkplug payloads', () => {
  it('encodes what the reference codec decodes: seq, timestamps, nulls, history', () => {
    const bytes = encodePayload({
      timestamp: 1_700_000_000_500, seq: 255,
      metrics: [
        { name: 'a', type: 'Int64', value: 3 },
        { name: 'b', type: 'String', value: null },
        { name: 'c', type: 'Double', value: 0.8765, timestamp: 1_700_000_000_100, isHistorical: true },
      ],
    });
    const p = codec.decodePayload(bytes);
    expect(Number(p.seq)).toBe(255);
    expect(Number(p.timestamp)).toBe(1_700_000_000_500);
    expect(p.metrics!.map((m) => [m.name, m.type, m.value === null ? null : Number(m.value)])).toEqual([['a', 'Int64', 3], ['b', 'String', null], ['c', 'Double', 0.8765]]);
    expect(Number(p.metrics![2].timestamp)).toBe(1_700_000_000_100);
    expect(p.metrics![2].isHistorical).toBe(true);
    expect(p.metrics![0].isHistorical).toBeUndefined();
  });

  it('builds the NDEATH with bdSeq and no seq', () => {
    const p = codec.decodePayload(deathPayload(12, 1_700_000_000_000));
    expect(p.seq).toBeUndefined();
    expect(p.metrics!.map((m) => [m.name, m.type, Number(m.value)])).toEqual([['bdSeq', 'Int64', 12]]);
  });

  it('reads a rebirth request and lists the command metrics it does not act on', () => {
    const cmd = (metrics: Parameters<typeof codec.encodePayload>[0]['metrics']) => Buffer.from(codec.encodePayload({ timestamp: 1, metrics }));
    expect(parseNodeCommand(cmd([{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]))).toEqual({ rebirth: true, ignored: [] });
    expect(parseNodeCommand(cmd([{ name: 'Node Control/Rebirth', type: 'Boolean', value: false }, { name: 'Node Control/Reboot', type: 'Boolean', value: true }])))
      .toEqual({ rebirth: false, ignored: ['Node Control/Reboot'] });
    expect(() => parseNodeCommand(Buffer.from([0xff, 0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'E_SPARKPLUG' }));
  });

  it('reads the 3.0 STATE and refuses anything else with E_SPARKPLUG', () => {
    expect(parseHostState(Buffer.from('{"online":true,"timestamp":1700000000000}'))).toEqual({ online: true, timestamp: 1_700_000_000_000 });
    for (const bad of ['ONLINE', '{"online":"yes","timestamp":1}', '{"online":true}', 'null']) {
      let err: unknown;
      try {
        parseHostState(Buffer.from(bad));
      } catch (e) {
        err = e;
      }
      expect(isLinesightError(err, 'E_SPARKPLUG'), bad).toBe(true);
      expect((err as Error).message).toMatch(/^Expected a STATE payload of JSON .* but found /);
    }
  });
});
