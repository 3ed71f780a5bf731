import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { MinuteAggregator } from '../../src/store/aggregator.js';
import { LATENCY_BOUNDS_MS, emptyHistogram, quantile, recordLatency } from '../../src/store/latency-histogram.js';
import { counterDelta, emptyMinute, mergeMinutes, splitByMinute, type MinuteStats } from '../../src/store/minute-stats.js';
import { toWireRow } from '../../src/sync/batch.js';
import type { CameraSnapshot, CameraState, InspectedFrame } from '../../src/types.js';
import { makeEvent } from '../helpers/events.js';
import { FakeClock } from '../helpers/fake-clock.js';

const T = (hms: string) => Date.parse(`2025-03-04T${hms}Z`);

function histogramOf(samples: number[]) {
  const h = emptyHistogram();
  for (const s of samples) recordLatency(h, s);
  return h;
}

function inspected(camera: string, captureTs: number, inferredAt: number, detections: Array<[string, number]>): InspectedFrame {
  return {
    frame: { camera, seq: 1, captureTs, captureMono: captureTs, width: 1280, height: 720, pictured: false },
    detections: detections.map(([className, confidence], i) => ({ classId: i, className, confidence, box: { x: 0, y: 0, w: 10, h: 10 } })),
    inferredAt,
    latencyMs: inferredAt - captureTs,
    inferMs: 12,
    batchSize: 1,
  };
}

function snapshot(id: string, state: CameraState, received: number, superseded: number, fps: number): CameraSnapshot {
  return {
    id, state, fps, framesReceived: received, framesInspected: 0,
    framesDropped: { superseded, bad_frame: 0, shutdown: 0, inference_error: 0 }, restarts: 0,
  };
}

/** A sink that keeps every write (one call = one transaction). */
function memorySink() {
  const writes: MinuteStats[][] = [];
  return { writes, writeMinutes: (rows: readonly MinuteStats[]) => void writes.push(rows.map((r) => structuredClone(r))) };
}

describe('latency histogram', () => {
  it('buckets samples by the 1-2-5 bounds, with an overflow bucket', () => {
    const h = histogramOf([0.5, 1, 3, 4, 30, 70_000]);
    expect(h.buckets).toHaveLength(LATENCY_BOUNDS_MS.length + 1);
    expect(h.buckets).toEqual([2, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(h).toMatchObject({ count: 6, sum: 70_038.5, max: 70_000 });
  });

  it('interpolates quantiles inside the bucket, clamps them to the max, answers max for the overflow', () => {
    expect(quantile(histogramOf([3, 4, 30]), 0.5)).toBe(4.25); // rank 1.5 in (2, 5] holding 2: 2 + 3 · 0.75
    expect(quantile(histogramOf([3, 4, 30]), 0.95)).toBe(30); // 20 + 30 · 0.85 = 45.5, clamped to max 30
    const wide = histogramOf([0.5, 1, 3, 4, 30, 70_000]);
    expect(quantile(wide, 0.5)).toBe(3.5); // rank 3: (2, 5] holds ranks 3–4 → 2 + 3 · 0.5
    expect(quantile(wide, 0.95)).toBe(70_000);
    expect(quantile(emptyHistogram(), 0.5)).toBeNull();
  });

  it('counts a negative latency (clock stepped back) as 0 ms and ignores NaN', () => {
    const h = histogramOf([-5, Number.NaN]);
    expect(h).toMatchObject({ count: 1, sum: 0, max: 0 });
    expect(h.buckets[0]).toBe(1);
  });
});

describe('minute maths', () => {
  it('turns cumulative counters into deltas and treats a lower reading as a restart from zero', () => {
    expect(counterDelta(undefined, 5)).toBe(5);
    expect(counterDelta(5, 8)).toBe(3);
    expect(counterDelta(8, 8)).toBe(0);
    expect(counterDelta(8, 2)).toBe(2);
  });

  it('splits an interval at UTC minute boundaries', () => {
    expect(splitByMinute(T('00:00:58'), T('00:01:03'))).toEqual([{ minute: T('00:00:00'), seconds: 2 }, { minute: T('00:01:00'), seconds: 3 }]);
    expect(splitByMinute(T('00:00:50'), T('00:02:05')).map((p) => p.seconds)).toEqual([10, 60, 5]);
    expect(splitByMinute(T('00:00:10'), T('00:00:20'))).toEqual([{ minute: T('00:00:00'), seconds: 10 }]);
    expect(splitByMinute(T('00:00:20'), T('00:00:10'))).toEqual([]);
  });

  it('merges two halves of a minute exactly', () => {
    const a = emptyMinute('cam1', T('10:00:00'));
    a.framesReceived = 100;
    a.framesDropped = { superseded: 2 };
    a.classes.scratch = { detections: 2, events: 1, confidenceSum: 1.5, confidenceMax: 0.8 };
    recordLatency(a.latency, 120);
    a.fpsSum = 10;
    a.fpsSamples = 2;
    a.secondsOnline = 25;
    a.provider = 'cuda';
    const b = emptyMinute('cam1', T('10:00:00'));
    b.framesReceived = 50;
    b.framesDropped = { superseded: 1, bad_frame: 3 };
    b.classes.scratch = { detections: 1, events: 0, confidenceSum: 0.9, confidenceMax: 0.9 };
    b.classes.dent = { detections: 1, events: 1, confidenceSum: 0.4, confidenceMax: 0.4 };
    recordLatency(b.latency, 300);
    b.fpsSum = 4;
    b.fpsSamples = 1;
    b.secondsOnline = 20;
    b.provider = 'cpu';
    const m = mergeMinutes(a, b);
    expect(m).toMatchObject({
      framesReceived: 150,
      framesDropped: { superseded: 3, bad_frame: 3 },
      classes: {
        scratch: { detections: 3, events: 1, confidenceSum: 2.4, confidenceMax: 0.9 },
        dent: { detections: 1, events: 1, confidenceSum: 0.4, confidenceMax: 0.4 },
      },
      fpsSum: 14,
      fpsSamples: 3,
      secondsOnline: 45,
      provider: 'cpu',
    });
    expect(m.latency).toMatchObject({ count: 2, sum: 420, max: 300 });
  });
});

describe('MinuteAggregator', () => {
  it('accumulates one camera-minute exactly and writes it once, after the minute settled', () => {
    const clock = new FakeClock(T('10:00:00'));
    const sink = memorySink();
    const agg = new MinuteAggregator({ sink, log: silentLogger(), clock, settleMs: 10_000 });

    agg.onSnapshots([snapshot('cam1', 'online', 100, 4, 5)], 'cpu'); // first reading counts in full
    clock.advanceTo(T('10:00:20'));
    agg.onInspected(inspected('cam1', T('10:00:19.960'), T('10:00:19.990'), [['scratch', 0.8], ['dent', 0.5]]), [makeEvent({ camera: 'cam1', className: 'scratch' })]);
    clock.advanceTo(T('10:00:30'));
    agg.onInspected(inspected('cam1', T('10:00:29.900'), T('10:00:29.980'), [['scratch', 0.9]]), []);
    clock.advanceTo(T('10:00:40'));
    agg.onPublished('cam1', 150);
    clock.advanceTo(T('10:00:55'));
    agg.onSnapshots([snapshot('cam1', 'online', 150, 6, 4)], 'cpu');
    clock.advanceTo(T('10:01:05'));
    // The camera was recreated: its counters start over.
    agg.onSnapshots([snapshot('cam1', 'reconnecting', 20, 1, 0)], 'cuda');
    expect(sink.writes).toHaveLength(0); // 10:00 settles at 10:01:10

    clock.advanceTo(T('10:01:10'));
    expect(sink.writes).toHaveLength(1);
    const [m] = sink.writes[0];
    expect(m).toMatchObject({
      camera: 'cam1',
      minute: T('10:00:00'),
      framesReceived: 150,
      framesInspected: 2,
      framesDropped: { superseded: 6, bad_frame: 0, shutdown: 0, inference_error: 0 },
      fpsSum: 9,
      fpsSamples: 2,
      secondsOnline: 60, // 55 s to the second snapshot, 5 s of the interval that crossed into 10:01
      provider: 'cpu',
    });
    expect(m.classes.scratch.detections).toBe(2);
    expect(m.classes.scratch.events).toBe(1);
    expect(m.classes.scratch.confidenceSum).toBeCloseTo(1.7, 12);
    expect(m.classes.scratch.confidenceMax).toBe(0.9);
    expect(m.classes.dent).toEqual({ detections: 1, events: 0, confidenceSum: 0.5, confidenceMax: 0.5 });
    expect(m.inspectLatency).toMatchObject({ count: 2, max: 80 });
    expect(m.inspectLatency.sum).toBeCloseTo(110, 9);

    const wire = toWireRow(m);
    expect(wire).toMatchObject({
      minute: '2025-03-04T10:00:00.000Z',
      fps: 4.5,
      seconds_online: 60,
      detections: 3,
      events: 1,
      classes: {
        dent: { detections: 1, events: 0, confidence_mean: 0.5, confidence_max: 0.5 },
        scratch: { detections: 2, events: 1, confidence_mean: 0.85, confidence_max: 0.9 },
      },
      latency_ms: { count: 1, mean: 150, p50: 150, p95: 150, max: 150 },
      inspect_latency_ms: { count: 2, mean: 55, p50: 50, p95: 80, max: 80 },
    });
    expect(Object.keys(wire.classes)).toEqual(['dent', 'scratch']);

    clock.advanceTo(T('10:01:30'));
    expect(agg.close()).toBe(1); // the current minute is written on close
    expect(sink.writes).toHaveLength(2);
    expect(sink.writes[1][0]).toMatchObject({
      minute: T('10:01:00'), framesReceived: 20, framesDropped: { superseded: 1, bad_frame: 0, shutdown: 0, inference_error: 0 },
      secondsOnline: 5, fpsSum: 0, fpsSamples: 1, provider: 'cuda',
    });
    agg.onInspected(inspected('cam1', 0, 1, []), []); // ignored after close
    expect(agg.stats()).toEqual({ openMinutes: 0, written: 2, droppedMinutes: 0 });
    expect(clock.pending).toBe(0);
  });

  it('writes all cameras of a minute in one transaction, minutes in order', () => {
    const clock = new FakeClock(T('10:00:00'));
    const sink = memorySink();
    const agg = new MinuteAggregator({ sink, log: silentLogger(), clock, settleMs: 5000 });
    for (let s = 0; s < 180; s += 5) {
      clock.advanceTo(T('10:00:00') + s * 1000);
      agg.onSnapshots([snapshot('cam1', 'online', s * 5, 0, 5), snapshot('cam2', 'online', s * 10, 0, 10)], 'cpu');
    }
    clock.advanceTo(T('10:03:05'));
    expect(sink.writes.map((w) => w.map((r) => `${new Date(r.minute).toISOString().slice(11, 16)} ${r.camera}`))).toEqual([
      ['10:00 cam1', '10:00 cam2'],
      ['10:01 cam1', '10:01 cam2'],
      ['10:02 cam1', '10:02 cam2'],
    ]);
    // Cumulative 0, 25, 50 … at 5 s steps: 300 frames a minute for cam1 (the first reading, 0, adds nothing).
    expect(sink.writes.map((w) => w[0].framesReceived)).toEqual([275, 300, 300]);
    expect(sink.writes.map((w) => w[1].framesReceived)).toEqual([550, 600, 600]);
    // Online from the first reading on: 55 s in the first minute (the last 5 s come from the 10:01:00 reading), then full minutes.
    expect(sink.writes.map((w) => w[0].secondsOnline)).toEqual([60, 60, 55]);
    agg.close();
  });

  it('keeps minutes in memory while the database refuses writes, retries, and drops the oldest beyond its bound', () => {
    const clock = new FakeClock(T('10:00:00'));
    let failing = true;
    const written: MinuteStats[] = [];
    const sink = {
      writeMinutes(rows: readonly MinuteStats[]) {
        if (failing) throw new Error('disk I/O error');
        written.push(...rows);
      },
    };
    const agg = new MinuteAggregator({ sink, log: silentLogger(), clock, settleMs: 1000, retryMs: 30_000, maxPendingMinutes: 3 });
    for (let minute = 0; minute < 4; minute++) {
      clock.advanceTo(T('10:00:00') + minute * 60_000);
      agg.onPublished('cam1', 10 + minute);
    }
    clock.advanceTo(T('10:03:30'));
    expect(written).toHaveLength(0);
    expect(agg.stats()).toMatchObject({ droppedMinutes: 1 }); // 10:00–10:03 held, only 3 may wait: 10:00 goes
    failing = false;
    clock.advanceTo(T('10:04:10'));
    expect(written.map((r) => new Date(r.minute).toISOString().slice(11, 16))).toEqual(['10:01', '10:02', '10:03']);
    expect(agg.stats()).toEqual({ openMinutes: 0, written: 3, droppedMinutes: 1 });
    agg.close();
  });
});
