import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MINUTE_MS } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { openAggregateStore, type AggregateStore } from '../../src/store/aggregate-store.js';
import { MinuteAggregator } from '../../src/store/aggregator.js';
import { createSync, type Sync } from '../../src/sync/index.js';
import type { CameraSnapshot, InspectedFrame } from '../../src/types.js';
import { captureLogger } from '../helpers/capture-log.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { startIngestServer, type IngestServer } from '../helpers/ingest-server.js';
import { waitFor } from '../helpers/wait.js';

const HOUR = 3_600_000;
const CAMERAS = ['cam1', 'cam2'];
const dir = mkdtempSync(join(tmpdir(), 'linesight-clock-steps-'));
const cleanups: Array<() => unknown> = [];
let rigs = 0;

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the app feeds the statistics each second: one inspected frame per camera, and the cameras' counters every 5 s. */
class Line {
  inspected = 0;
  private tick = 0;

  constructor(private readonly clock: FakeClock, private readonly aggregator: MinuteAggregator) {}

  /** Runs `seconds` of real time, one frame per camera per second. */
  run(seconds: number): void {
    for (let s = 0; s < seconds; s++) {
      this.clock.advance(1000);
      this.tick++;
      const mono = this.clock.monotonic();
      for (const camera of CAMERAS) {
        const frame: InspectedFrame = {
          frame: { camera, seq: this.tick, captureTs: this.clock.now() - 40, captureMono: mono - 40, width: 640, height: 480, pictured: false },
          detections: [], inferredAt: this.clock.now(), latencyMs: 40, inferMs: 20, batchSize: 2,
        };
        this.aggregator.onInspected(frame);
        this.inspected++;
      }
      if (this.tick % 5 === 0) this.aggregator.onSnapshots(this.snapshots(), 'cpu');
    }
  }

  private snapshots(): CameraSnapshot[] {
    return CAMERAS.map((id) => ({
      id, state: 'online', fps: 1, framesReceived: this.tick, framesInspected: this.tick,
      framesDropped: { superseded: 0, bad_frame: 0, shutdown: 0, inference_error: 0 }, restarts: 0,
    }));
  }
}

interface Rig {
  clock: FakeClock;
  store: AggregateStore;
  aggregator: MinuteAggregator;
  sync: Sync;
  cloud: IngestServer;
  line: Line;
  log: ReturnType<typeof captureLogger>;
}

async function rig(start: string): Promise<Rig> {
  const clock = new FakeClock(start);
  const log = captureLogger();
  const store = openAggregateStore(join(dir, `steps-${++rigs}.db`), silentLogger());
  cleanups.push(() => store.close());
  const cloud = await startIngestServer();
  cleanups.push(() => cloud.close());
  const aggregator = new MinuteAggregator({ sink: store, log: log.log, clock, settleMs: 10_000 });
  const sync = createSync({
    config: { url: cloud.url, schedule: '0 2 * * *', dir: join(dir, 'out') },
    site: 'plant', line: 'line1', store, log: log.log, timeZone: 'UTC', clock,
    tuning: { backoffBaseMs: 5, backoffMaxMs: 20, requestTimeoutMs: 5000, maxAttempts: 3 },
  });
  cleanups.push(() => sync.stop());
  return { clock, store, aggregator, sync, cloud, line: new Line(clock, aggregator), log };
}

/** Frames inspected per camera as the cloud received them, and how often each camera-minute came. */
function uploaded(cloud: IngestServer): { inspected: number; doubled: string[] } {
  let inspected = 0;
  for (const batch of cloud.stored.values()) for (const row of batch.doc.rows) inspected += row.frames_inspected;
  const doubled = [...cloud.minuteCounts()].filter(([, n]) => n !== 1).map(([key]) => key);
  return { inspected, doubled };
}

describe('wall-clock steps (NTP sets the clock back an hour, later forward an hour)', () => {
  it('statistics lose nothing and count nothing twice; the nightly upload runs once a night', async () => {
    const r = await rig('2025-03-04T01:00:00Z');
    r.sync.startSchedule();
    r.line.run(60 * 60); // 01:00 → 02:00: the 02:00 run starts
    await waitFor('the 02:00 upload to finish', () => r.sync.status().lastRun !== undefined && !r.sync.status().running);
    const first = r.sync.status().lastRun;
    expect(first).toMatchObject({ ok: true, startedAt: Date.parse('2025-03-04T02:00:00Z') });
    r.line.run(30 * 60);

    r.clock.step(-HOUR); // 02:30 → 01:30: minutes before 01:59 were packed by the upload already
    r.line.run(40 * 60); // through 02:00 again: no second run tonight
    expect(r.sync.status().running).toBe(false);
    expect(r.sync.status().lastRun?.startedAt).toBe(first?.startedAt);
    expect(r.sync.status().nextRunAt).toBe(Date.parse('2025-03-05T02:00:00Z'));

    r.clock.step(HOUR); // 02:10 → 03:10
    r.line.run(10 * 60);
    r.aggregator.close();

    // Everything the line counted is in the database, once.
    const stored = r.store.minutes(0, Number.MAX_SAFE_INTEGER).reduce((sum, m) => sum + m.framesInspected, 0);
    expect(stored).toBe(r.line.inspected);

    r.clock.advanceTo('2025-03-05T02:00:00Z');
    await waitFor('the next night\'s upload to finish', () => r.sync.status().lastRun?.startedAt === Date.parse('2025-03-05T02:00:00Z') && !r.sync.status().running);
    expect(r.sync.status().lastRun).toMatchObject({ ok: true });
    const cloud = uploaded(r.cloud);
    expect(cloud.doubled).toEqual([]);
    expect(cloud.inspected).toBe(r.line.inspected);
    expect(r.cloud.problems).toEqual([]);

    // Each step was noticed once, and the minutes that came back after the upload were counted forward once.
    const warnings = r.log.at('warn').map((l) => l.msg);
    expect(warnings.filter((m) => /wall clock stepped back by 3600 s/.test(m))).toHaveLength(1);
    expect(warnings.filter((m) => /wall clock stepped forward by 3600 s/.test(m))).toHaveLength(1);
    expect(warnings.some((m) => /counted in the first minute not yet uploaded/.test(m))).toBe(true);
    // Online time is real time: 140 minutes of it per camera, not 140 ± 60.
    const online = r.store.minutes(0, Number.MAX_SAFE_INTEGER).filter((m) => m.camera === 'cam1').reduce((s, m) => s + m.secondsOnline, 0);
    expect(online).toBeGreaterThan(140 * 60 - 10);
    expect(online).toBeLessThanOrEqual(140 * 60);
  });

  it('a step forward over 02:00 still runs the upload that night, once', async () => {
    const r = await rig('2025-03-04T01:30:00Z');
    r.sync.startSchedule();
    r.line.run(60);
    r.clock.step(HOUR); // 01:31 → 02:31: 02:00 never happened on the wall
    r.line.run(60);
    // The timer armed for 02:00 fires on real time, 29 minutes after it was armed: 03:00 on the stepped wall clock.
    r.line.run(29 * 60);
    await waitFor('the late 02:00 upload to finish', () => r.sync.status().lastRun !== undefined && !r.sync.status().running);
    expect(r.sync.status().lastRun).toMatchObject({ ok: true, startedAt: Date.parse('2025-03-04T03:00:00Z') });
    r.line.run(60 * 60);
    expect(r.sync.status().lastRun?.startedAt).toBe(Date.parse('2025-03-04T03:00:00Z'));
    expect(r.sync.status().nextRunAt).toBe(Date.parse('2025-03-05T02:00:00Z'));
    r.aggregator.close();
    expect(r.store.minutes(0, Number.MAX_SAFE_INTEGER).reduce((sum, m) => sum + m.framesInspected, 0)).toBe(r.line.inspected);
  });

  it('durations never go negative: a minute record never has a latency below zero or online time beyond a minute', async () => {
    const r = await rig('2025-03-04T10:00:00Z');
    r.line.run(90);
    r.clock.step(-HOUR);
    r.line.run(90);
    r.clock.step(HOUR);
    r.line.run(90);
    r.aggregator.close();
    for (const m of r.store.minutes(0, Number.MAX_SAFE_INTEGER)) {
      expect(m.secondsOnline).toBeGreaterThanOrEqual(0);
      expect(m.secondsOnline).toBeLessThanOrEqual(MINUTE_MS / 1000);
      expect(m.inspectLatency.count).toBe(m.framesInspected);
    }
  });
});
