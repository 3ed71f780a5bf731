import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { EventsStage, PICTURE_WAIT_MS, type StoredEvent } from '../../src/events/stage.js';
import { silentLogger } from '../../src/log.js';
import { captureLogger } from '../helpers/capture-log.js';
import type { DefectEvent, InspectedFrame, Picture } from '../../src/types.js';
import { makePicture } from '../helpers/pictures.js';

function config(): Config {
  const { config: cfg, problems } = validateConfig({ cameras: [{ id: 'cam1', url: 'a.mp4' }], model: { path: 'm.onnx' }, events: { confirm_hits: 3, confirm_window: 5 } });
  if (!cfg) throw new Error(JSON.stringify(problems));
  return cfg;
}

const T0 = 1_750_000_000_000;
const at = (seq: number) => T0 + seq * 200;

/** A square seen in frame `seq`, more confident each time, so the newest frame holds the best box. */
function inspected(seq: number, pictured: boolean): InspectedFrame {
  return {
    frame: { camera: 'cam1', seq, captureTs: at(seq), captureMono: at(seq), width: 64, height: 48, pictured },
    detections: [{ classId: 0, className: 'scratch', confidence: 0.5 + seq / 100, box: { x: 10 + seq, y: 10, w: 8, h: 8 } }],
    inferredAt: at(seq) + 20, latencyMs: 20, inferMs: 10, batchSize: 1,
  };
}

function picture(seq: number): Picture {
  return makePicture({ camera: 'cam1', seq, captureTs: at(seq), width: 64, height: 48 }, Buffer.alloc(64 * 48 * 3, seq));
}

function setup() {
  const stored: DefectEvent[] = [];
  const alerts: Array<{ alert: StoredEvent; seq?: number; at: number }> = [];
  const stage = new EventsStage(config(), {
    record: (event) => {
      stored.push(event);
      return { seq: stored.length, outcome: 'queued' };
    },
    stored: () => undefined,
    counted: () => undefined,
  }, silentLogger());
  stage.addCamera(config().cameras[0]);
  stage.on('alert', (alert, p) => alerts.push({ alert, seq: p?.seq, at: Date.now() }));
  return { stage, stored, alerts };
}

const stages: EventsStage[] = [];

/** A stage that has seen the square in frame 1 (with its picture) and frame 2 (without one): the next sighting confirms it. */
function twoFramesSeen() {
  const seen = setup();
  stages.push(seen.stage);
  const first = picture(1);
  seen.stage.inspect(inspected(1, true));
  seen.stage.picture(first);
  first.release();
  seen.stage.inspect(inspected(2, false));
  return seen;
}
afterEach(() => {
  for (const s of stages.splice(0)) s.close();
});

describe('events stage', () => {
  it("stores an alert at once and shows it with its own frame's picture once that comes", () => {
    const { stage, stored, alerts } = twoFramesSeen();
    stage.inspect(inspected(3, true)); // confirms; its picture is still on its way
    expect(stored).toHaveLength(1);
    expect(stored[0].frame.ts).toBe(at(3));
    expect(alerts).toHaveLength(0);
    const own = picture(3);
    stage.picture(own);
    own.release();
    expect(alerts.map((a) => [a.alert.seq, a.seq])).toEqual([[1, 3]]);
  });

  it('shows the alert with the nearest picture when its own never comes, after at most the wait', async () => {
    const { stage, alerts } = twoFramesSeen();
    const started = Date.now();
    stage.inspect(inspected(3, true));
    expect(alerts).toHaveLength(0);
    await new Promise((r) => setTimeout(r, PICTURE_WAIT_MS + 100));
    expect(alerts.map((a) => a.seq)).toEqual([1]);
    expect(alerts[0].at - started).toBeGreaterThanOrEqual(PICTURE_WAIT_MS - 50);
  });

  it('gives back every picture it kept when the camera leaves, and sends alerts still waiting', () => {
    const { stage, alerts } = setup();
    const kept = [1, 2, 3].map((seq) => {
      const p = picture(seq);
      stage.inspect(inspected(seq, true));
      if (seq !== 3) stage.picture(p);
      return p;
    });
    for (const p of kept) p.release();
    expect(alerts).toHaveLength(0); // waiting for picture 3
    stage.removeCamera('cam1');
    expect(alerts.map((a) => a.seq)).toEqual([undefined]);
    for (const p of kept) expect(() => p.hold()).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });

  it('hands an alert the store refused to the unstored sink, and still shows it, marked stored: false', () => {
    const capture = captureLogger('debug');
    const unstored: string[] = [];
    const alerts: StoredEvent[] = [];
    const stage = new EventsStage(config(), {
      record: () => {
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      },
      unstored: (event) => {
        unstored.push(event.id);
        return { seq: 41 };
      },
      stored: () => undefined,
      counted: () => undefined,
    }, capture.log);
    stages.push(stage);
    stage.addCamera(config().cameras[0]);
    stage.on('alert', (alert) => alerts.push(alert));
    for (const seq of [1, 2, 3]) stage.inspect(inspected(seq, false));
    expect(unstored).toHaveLength(1);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ id: unstored[0], seq: 41, stored: false });
    expect(capture.at('error')).toEqual([]); // the store reports its own state, once
    expect(capture.at('info').find((l) => l.msg.startsWith('defect'))).toMatchObject({ outbox: 'unstored', seq: 41 });
  });

  it('says at error that an alert is lost when nothing can take it', () => {
    const capture = captureLogger('debug');
    const alerts: StoredEvent[] = [];
    const stage = new EventsStage(config(), {
      record: () => {
        throw new Error('database or disk is full');
      },
      stored: () => undefined,
      counted: () => undefined,
    }, capture.log);
    stages.push(stage);
    stage.addCamera(config().cameras[0]);
    stage.on('alert', (alert) => alerts.push(alert));
    for (const seq of [1, 2, 3]) stage.inspect(inspected(seq, false));
    expect(alerts).toEqual([]);
    expect(capture.at('error').map((l) => l.msg)).toEqual(['could not store an alert; it is lost']);
  });
});
