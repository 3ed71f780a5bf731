import { describe, expect, it } from 'vitest';
import { Tracker, type TrackerOptions } from '../../src/events/tracker.js';
import { pointInPolygon, regionFilter } from '../../src/events/roi.js';
import { iou } from '../../src/events/geometry.js';
import { isLinesightError } from '../../src/errors.js';
import type { Box, DefectEvent, Detection, InspectedFrame } from '../../src/types.js';

const T0 = 1_700_000_000_000;
const DT = 200; // 5 fps

const base: TrackerOptions = { confirmHits: 3, confirmWindow: 5, maxMissed: 5, matchIou: 0.2 };

function frame(i: number, detections: Detection[], camera = 'cam1'): InspectedFrame {
  return {
    frame: { camera, seq: i, captureTs: T0 + i * DT, captureMono: i * DT, width: 1280, height: 720, pictured: false },
    detections,
    inferredAt: T0 + i * DT + 30,
    latencyMs: 30,
    inferMs: 20,
    batchSize: 1,
  };
}

function det(box: Box, confidence = 0.8, classId = 0, className = 'scratch'): Detection {
  return { classId, className, confidence, box };
}

function makeTracker(opts: Partial<TrackerOptions> = {}): Tracker {
  let n = 0;
  return new Tracker('cam1', { ...base, ...opts }, () => `id-${++n}`, () => 42);
}

/** Runs frames 0..n-1, detections per frame from `at(i)`; returns every event with the frame index it came on. */
function run(tracker: Tracker, n: number, at: (i: number) => Detection[]): Array<{ i: number; event: DefectEvent }> {
  const out: Array<{ i: number; event: DefectEvent }> = [];
  for (let i = 0; i < n; i++) for (const event of tracker.update(frame(i, at(i))).events) out.push({ i, event });
  return out;
}

describe('Tracker', () => {
  it('gives one event for a defect crossing the frame at half a box width per frame', () => {
    const tracker = makeTracker();
    // 40 px box moving 20 px per frame from x=0 to x=1240 (63 frames).
    const out = run(tracker, 63, (i) => [det({ x: i * 20, y: 300, w: 40, h: 40 }, 0.5 + (i === 1 ? 0.4 : 0))]);
    expect(out).toHaveLength(1);
    const { i, event } = out[0];
    expect(i).toBe(2);
    expect(event).toEqual({
      id: 'id-1',
      camera: 'cam1',
      trackId: 1,
      classId: 0,
      className: 'scratch',
      confidence: 0.9,
      box: { x: 20, y: 300, w: 40, h: 40 },
      frame: { width: 1280, height: 720, ts: T0 + DT },
      ts: T0 + 2 * DT,
      confirmedAt: 42,
    });
  });

  it('keeps a fast part (0.9 box width per frame, IoU 0.05) on one track via centre distance and velocity', () => {
    const tracker = makeTracker();
    const out = run(tracker, 30, (i) => [det({ x: 10 + i * 36, y: 100, w: 40, h: 40 })]);
    expect(out.map((o) => o.event.trackId)).toEqual([1]);
    expect(tracker.update(frame(30, [det({ x: 10 + 30 * 36, y: 100, w: 40, h: 40 })])).tracks.map((t) => t.trackId)).toEqual([1]);
  });

  it('confirms a defect that moves more than a box size between analysed frames from its very first sightings', () => {
    // The demo belt: 330 px/s analysed at 5 fps moves a 40 px defect 66 px (1.65 box sizes) per frame.
    const step = (i: number) => [det({ x: 10 + i * 66, y: 100, w: 40, h: 40 })];
    const out = run(makeTracker(), 12, step);
    expect(out.map((o) => [o.i, o.event.trackId])).toEqual([[2, 1]]);
    // With the first-match gate as tight as the later one, every sighting starts a new track.
    const tight = makeTracker({ firstMatchShift: 1 });
    expect(run(tight, 12, step)).toEqual([]);
  });

  it('tracks a file replayed as fast as possible by its media time, whatever the arrival times', () => {
    // 60 px per frame on a 40 px box; frames arrive in bursts (three within 2 ms, then a 300 ms gap).
    const arrival = (i: number) => T0 + Math.floor(i / 3) * 300 + (i % 3);
    const feed = (withMedia: boolean) => {
      const tracker = makeTracker();
      let events = 0;
      for (let i = 0; i < 20; i++) {
        const made = frame(i, [det({ x: 10 + i * 60, y: 100, w: 40, h: 40 })]);
        const f = { ...made, frame: { ...made.frame, captureTs: arrival(i), ...(withMedia ? { mediaTs: i * DT } : {}) } };
        events += tracker.update(f).events.length;
      }
      return events;
    };
    expect(feed(true)).toBe(1);
    expect(feed(false)).toBeGreaterThan(1); // arrival times alone break the motion model
  });

  it('keeps one defect one event when the detector changes its mind about the class, and reports the class most seen', () => {
    const tracker = makeTracker();
    const classes = ['crack', 'scratch', 'scratch', 'crack', 'scratch', 'scratch', 'crack', 'scratch'];
    const out = run(tracker, classes.length, (i) => [det({ x: 100 + i * 30, y: 200, w: 40, h: 40 }, 0.6, classes[i] === 'crack' ? 2 : 0, classes[i])]);
    expect(out).toHaveLength(1);
    expect(out[0].event).toMatchObject({ className: 'scratch', classId: 0 });
    // Two defects of different classes side by side stay two events.
    const two = run(makeTracker(), 8, (i) => [
      det({ x: 100 + i * 30, y: 200, w: 40, h: 40 }, 0.6, 0, 'scratch'),
      det({ x: 150 + i * 30, y: 200, w: 40, h: 40 }, 0.6, 1, 'dent'),
    ]);
    expect(two.map((o) => o.event.className).sort()).toEqual(['dent', 'scratch']);
  });

  it('follows a part accelerating on the conveyor thanks to the velocity prediction', () => {
    const tracker = makeTracker();
    // Speed grows from 10 to 58 px/frame on a 40 px box; without prediction IoU would drop to 0.
    let x = 0;
    const xs = Array.from({ length: 25 }, (_, i) => (x += 10 + 2 * i));
    const out = run(tracker, 25, (i) => [det({ x: xs[i], y: 100, w: 40, h: 40 })]);
    expect(out).toHaveLength(1);
  });

  it('gives two events for two nearby defects moving together', () => {
    const tracker = makeTracker();
    const out = run(tracker, 20, (i) => [
      det({ x: 100 + i * 15, y: 200, w: 40, h: 40 }, 0.7),
      det({ x: 150 + i * 15, y: 200, w: 40, h: 40 }, 0.8),
    ]);
    expect(out.map((o) => o.i)).toEqual([2, 2]);
    expect(out.map((o) => o.event.trackId).sort()).toEqual([1, 2]);
    // Equal confidences: the first sighting stays the best one.
    expect(out.map((o) => o.event.box.x).sort()).toEqual([100, 150]);
  });

  it('does not merge two defects when one of them is missed for a frame', () => {
    const tracker = makeTracker();
    const a = () => det({ x: 100, y: 200, w: 40, h: 40 });
    const b = () => det({ x: 150, y: 200, w: 40, h: 40 });
    const out = run(tracker, 12, (i) => (i === 4 ? [b()] : [a(), b()]));
    expect(out).toHaveLength(2);
    const last = tracker.update(frame(12, [a(), b()])).tracks;
    expect(last.map((t) => [t.trackId, t.box.x])).toEqual([[1, 100], [2, 150]]);
  });

  it('gives no event for a one-frame flicker, and forgets it after maxMissed frames', () => {
    const tracker = makeTracker();
    const views: number[] = [];
    for (let i = 0; i < 10; i++) {
      const { events, tracks } = tracker.update(frame(i, i === 0 ? [det({ x: 10, y: 10, w: 30, h: 30 })] : []));
      expect(events).toEqual([]);
      views.push(tracks.length);
    }
    // Seen at 0, missed at 1..4 (kept), forgotten after the 5th miss (frame 5).
    expect(views).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
  });

  it('does not split a track over a missed frame in the middle', () => {
    const tracker = makeTracker();
    const out = run(tracker, 15, (i) => (i === 2 ? [] : [det({ x: 100 + i * 10, y: 100, w: 50, h: 50 })]));
    expect(out.map((o) => [o.i, o.event.trackId])).toEqual([[3, 1]]);
    expect(out[0].event.ts).toBe(T0 + 3 * DT);
  });

  it('bridges a gap of maxMissed-1 frames but not of maxMissed frames', () => {
    const short = run(makeTracker(), 20, (i) => (i >= 5 && i < 9 ? [] : [det({ x: 100, y: 100, w: 50, h: 50 })]));
    expect(short.map((o) => o.event.trackId)).toEqual([1]);
    const long = run(makeTracker(), 20, (i) => (i >= 5 && i < 10 ? [] : [det({ x: 100, y: 100, w: 50, h: 50 })]));
    expect(long.map((o) => [o.i, o.event.trackId])).toEqual([[2, 1], [12, 2]]);
  });

  it('makes a new event when a defect reappears after being forgotten', () => {
    const tracker = makeTracker({ maxMissed: 3 });
    const seen = (i: number) => i < 5 || i >= 12;
    const out = run(tracker, 16, (i) => (seen(i) ? [det({ x: 300, y: 300, w: 40, h: 40 })] : []));
    expect(out.map((o) => [o.i, o.event.id, o.event.trackId])).toEqual([[2, 'id-1', 1], [14, 'id-2', 2]]);
  });

  it('confirms intermittent sightings only when confirmHits fall within confirmWindow', () => {
    // Seen every other frame: 3 hits within 5 frames → confirmed at frame 4.
    const everyOther = run(makeTracker(), 10, (i) => (i % 2 === 0 ? [det({ x: 0, y: 0, w: 40, h: 40 })] : []));
    expect(everyOther.map((o) => o.i)).toEqual([4]);
    // Seen every third frame: never 3 hits within 5 frames.
    const sparse = run(makeTracker(), 20, (i) => (i % 3 === 0 ? [det({ x: 0, y: 0, w: 40, h: 40 })] : []));
    expect(sparse).toEqual([]);
  });

  it('never matches detections of different classes', () => {
    const tracker = makeTracker();
    const out = run(tracker, 5, () => [det({ x: 0, y: 0, w: 40, h: 40 }, 0.8, 0, 'scratch'), det({ x: 2, y: 0, w: 40, h: 40 }, 0.8, 1, 'dent')]);
    expect(out.map((o) => o.event.className).sort()).toEqual(['dent', 'scratch']);
  });

  it('keeps only detections whose centre is inside the ROI and outside every exclusion', () => {
    const roi: Array<[number, number]> = [[0, 0], [640, 0], [640, 720], [0, 720]];
    const exclude: Array<Array<[number, number]>> = [[[100, 100], [200, 100], [200, 200], [100, 200]]];
    const tracker = makeTracker({ roi, exclude });
    const out = run(tracker, 5, () => [
      det({ x: 600, y: 300, w: 100, h: 40 }, 0.8), // centre 650: outside ROI
      det({ x: 130, y: 130, w: 40, h: 40 }, 0.8), // centre 150,150: excluded
      det({ x: 400, y: 400, w: 40, h: 40 }, 0.8), // kept
    ]);
    expect(out.map((o) => o.event.box.x)).toEqual([400]);
  });

  it('applies per-class minimum confidence and ignored classes', () => {
    const tracker = makeTracker({ classConfidence: { scratch: 0.6 }, ignoreClasses: ['dust'] });
    const out = run(tracker, 5, () => [
      det({ x: 0, y: 0, w: 40, h: 40 }, 0.55, 0, 'scratch'),
      det({ x: 200, y: 0, w: 40, h: 40 }, 0.99, 2, 'dust'),
      det({ x: 400, y: 0, w: 40, h: 40 }, 0.3, 1, 'dent'),
    ]);
    expect(out.map((o) => o.event.className)).toEqual(['dent']);
  });

  it('reports live tracks for the overlay', () => {
    const tracker = makeTracker();
    tracker.update(frame(0, [det({ x: 0, y: 0, w: 40, h: 40 }, 0.6)]));
    const { tracks } = tracker.update(frame(1, [det({ x: 5, y: 0, w: 40, h: 40 }, 0.7)]));
    expect(tracks).toEqual([
      { trackId: 1, classId: 0, className: 'scratch', confidence: 0.7, box: { x: 5, y: 0, w: 40, h: 40 }, confirmed: false, hits: 2, age: 2, missed: 0 },
    ]);
  });

  it('rejects bad options and frames of another camera with E_ARGUMENT', () => {
    expect(() => new Tracker('c', { ...base, confirmHits: 6 })).toThrow(/at most confirmWindow/);
    expect(() => new Tracker('c', { ...base, maxMissed: 0 })).toThrow(/positive integer for maxMissed but received 0/);
    try {
      makeTracker().update(frame(0, [], 'cam2'));
      expect.unreachable();
    } catch (err) {
      expect(isLinesightError(err, 'E_ARGUMENT')).toBe(true);
    }
  });
});

describe('geometry and regions', () => {
  it('computes IoU on exact numbers', () => {
    expect(iou({ x: 0, y: 0, w: 40, h: 40 }, { x: 20, y: 0, w: 40, h: 40 })).toBeCloseTo(1 / 3, 10);
    expect(iou({ x: 0, y: 0, w: 10, h: 10 }, { x: 10, y: 0, w: 10, h: 10 })).toBe(0);
  });

  it('tests points against concave polygons', () => {
    const u: Array<[number, number]> = [[0, 0], [30, 0], [30, 30], [20, 30], [20, 10], [10, 10], [10, 30], [0, 30]];
    expect(pointInPolygon([5, 20], u)).toBe(true);
    expect(pointInPolygon([15, 20], u)).toBe(false);
    expect(pointInPolygon([15, 5], u)).toBe(true);
    expect(regionFilter({})({ x: -100, y: -100, w: 1, h: 1 })).toBe(true);
  });
});
