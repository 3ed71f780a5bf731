import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../src/publish/failure.js';
import { alertPayload } from '../../src/publish/payload.js';
import { cameraStatusPayload, nodeStatusPayload } from '../../src/publish/status.js';
import { alertTopic, cameraStatusTopic, nodeStatusTopic } from '../../src/publish/topics.js';
import type { OutboxItem } from '../../src/store/index.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';

const schema = JSON.parse(readFileSync(new URL('../../docs/alert.schema.json', import.meta.url), 'utf8')) as JsonSchema;
const T = Date.UTC(2025, 2, 4, 5, 6, 7, 89);

const item: OutboxItem = {
  id: 7,
  seq: 1842,
  createdAt: T + 50,
  replayed: true,
  event: {
    id: '0193a4f2-6c1e-7b3a-9d41-5be0c2f7a9e1', camera: 'cam1', trackId: 57, classId: 2, className: 'scratch',
    confidence: 0.873149, box: { x: 412.4999, y: 96.04, w: 38.21, h: 21 },
    frame: { width: 1920, height: 1080, ts: T - 200 }, ts: T, confirmedAt: T + 40,
  },
};

describe('MQTT payloads', () => {
  it('builds the documented alert payload', () => {
    const body = alertPayload(item, { site: 'plant', line: 'line1', model: { name: 'fallback', version: '0' } }, 143);
    expect(body).toEqual({
      schema: 'linesight.alert/1', id: item.event.id, seq: 1842, ts: '2025-03-04T05:06:07.089Z', site: 'plant', line: 'line1',
      camera: 'cam1', class: 'scratch', confidence: 0.8731, box: { x: 412.5, y: 96, w: 38.2, h: 21 },
      frame: { width: 1920, height: 1080, ts: '2025-03-04T05:06:06.889Z' }, track_id: 57,
      model: { name: 'fallback', version: '0' }, latency_ms: 143, replayed: true,
    });
    expect(checkSchema(schema, body)).toEqual([]);
    expect(checkSchema(schema, { ...body, extra: 1, seq: 0 })).toEqual(['$.seq: 0 < 1', '$.extra: not allowed']);
  });

  it('prefers the model recorded with the alert', () => {
    const body = alertPayload({ ...item, model: { name: 'old', version: '1' } }, { site: 's', line: 'l', model: { name: 'new', version: '2' } }, 0);
    expect(body.model).toEqual({ name: 'old', version: '1' });
  });

  it('lays out topics under the prefix', () => {
    const root = { prefix: 'factory/linesight/', site: 'plant', line: 'line1' };
    expect(alertTopic(root, 'cam1')).toBe('factory/linesight/plant/line1/cam1/alert');
    expect(cameraStatusTopic(root, 'cam1')).toBe('factory/linesight/plant/line1/cam1/status');
    expect(nodeStatusTopic(root)).toBe('factory/linesight/plant/line1/status');
  });

  it('maps camera states and counters onto the status payload', () => {
    const snapshot = {
      id: 'cam1', state: 'stopped' as const, fps: 0, framesReceived: 1, framesInspected: 1,
      framesDropped: { superseded: 0, bad_frame: 0, shutdown: 1, inference_error: 0 }, restarts: 0,
    };
    expect(cameraStatusPayload(snapshot, { provider: 'cuda', outboxDepth: 4 }, T)).toEqual({
      state: 'offline', ts: '2025-03-04T05:06:07.089Z', fps: 0, frames_received: 1, frames_inspected: 1,
      frames_dropped: { superseded: 0, bad_frame: 0, shutdown: 1, inference_error: 0 }, restarts: 0, provider: 'cuda', last_error: null, outbox_depth: 4,
      health: null, frames_inspected_degraded: 0, seconds_degraded: 0,
    });
    expect(nodeStatusPayload({ version: '1', cameras: ['a'], depth: 2, dropped: 3 }, T)).toEqual({
      state: 'online', ts: '2025-03-04T05:06:07.089Z', version: '1', cameras: ['a'], outbox: { depth: 2, dropped: 3 },
    });
  });

  it('names connection failures', () => {
    const refused = Object.assign(new Error('Connection refused: Not authorized'), { code: 135 });
    expect(describeFailure(refused)).toEqual({ kind: 'refused', code: 135, message: 'Connection refused: Not authorized (CONNACK reason 135)' });
    const tls = Object.assign(new Error('unable to get local issuer certificate'), { code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' });
    expect(describeFailure(tls).kind).toBe('tls');
    expect(describeFailure(undefined)).toEqual({ kind: 'network', message: 'the connection closed' });
  });
});
