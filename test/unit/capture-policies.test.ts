import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureBand, capturePoliciesFor, picturesDir } from '../../src/capture/config.js';
import { overQuota } from '../../src/capture/keeper.js';
import { ClassShares, endedUnconfirmed, nearThreshold, randomPick, rareClasses } from '../../src/capture/policies.js';
import { RateLimit } from '../../src/capture/rate-limit.js';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { TrackView } from '../../src/events/tracker.js';
import { silentLogger } from '../../src/log.js';
import { openDatabase } from '../../src/store/db.js';
import { openStore } from '../../src/store/index.js';
import { PicturesTable, type NewPicture } from '../../src/store/pictures.js';
import type { Detection } from '../../src/types.js';
import { makeEvent } from '../helpers/events.js';

const dir = mkdtempSync(join(tmpdir(), 'linesight-capture-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const det = (className: string, confidence: number): Detection => ({ classId: 0, className, confidence, box: { x: 1, y: 2, w: 3, h: 4 } });
const track = (trackId: number, confirmed: boolean): TrackView => ({
  trackId, classId: 0, className: 'red', confidence: 0.5, box: { x: 0, y: 0, w: 1, h: 1 }, confirmed, hits: 2, age: 3, missed: 0,
});

function config(extra: Record<string, unknown> = {}, camera: Record<string, unknown> = {}): Config {
  const { config: c, problems } = validateConfig({
    cameras: [{ id: 'cam1', url: 'rtsp://x/1', ...camera }, { id: 'cam2', url: 'rtsp://x/2' }],
    model: { path: 'm.onnx' }, store: { path: '/data/line.db' }, ...extra,
  });
  expect(problems).toEqual([]);
  return c!;
}

describe('capture policies (pure)', () => {
  it('random 1-in-N keeps a draw below 1/N', () => {
    expect(randomPick(0, 300)).toBe(true);
    expect(randomPick(0.00333, 300)).toBe(true); // 0.999 < 1
    expect(randomPick(1 / 300, 300)).toBe(false); // exactly 1: not below
    expect(randomPick(0.5, 300)).toBe(false);
    expect(randomPick(0.999, 1)).toBe(true);
    expect(randomPick(0.25, 4)).toBe(false);
    expect(randomPick(0.2499, 4)).toBe(true);
  });

  it('near threshold: the band below each class threshold, threshold excluded', () => {
    const thresholds: Record<string, number> = { red: 0.5, green: 0.8 };
    const ds = [det('red', 0.5), det('red', 0.45), det('red', 0.4), det('red', 0.39), det('green', 0.75), det('green', 0.69)];
    expect(nearThreshold(ds, (c) => thresholds[c], 0.1).map((d) => [d.className, d.confidence])).toEqual([['red', 0.45], ['red', 0.4], ['green', 0.75]]);
    expect(nearThreshold(ds, (c) => thresholds[c], 0)).toEqual([]);
  });

  it('unconfirmed tracks: gone after the frame and never confirmed', () => {
    const before = [track(1, false), track(2, true), track(3, false), track(4, false)];
    const after = [track(3, false), track(5, false)];
    expect(endedUnconfirmed(before, after).map((t) => t.trackId)).toEqual([1, 4]);
    expect(endedUnconfirmed([], after)).toEqual([]);
  });

  it('class shares over a sliding window of detections', () => {
    const shares = new ClassShares(4);
    shares.add([det('a', 1), det('a', 1), det('b', 1)]);
    expect(shares.size).toBe(3);
    expect(shares.share('a')).toBeCloseTo(2 / 3, 12);
    expect(shares.share('c')).toBe(0);
    shares.add([det('c', 1), det('c', 1)]); // pushes out the first 'a'
    expect(shares.size).toBe(4);
    expect(shares.share('a')).toBe(0.25);
    expect(shares.share('b')).toBe(0.25);
    expect(shares.share('c')).toBe(0.5);
    expect(() => new ClassShares(0)).toThrow(/positive integer window/);
  });

  it('rare classes: below the share, judged only once the window is full', () => {
    const shares = new ClassShares(10);
    shares.add(Array.from({ length: 9 }, () => det('common', 1)));
    expect(rareClasses([det('odd', 0.6)], shares, 0.2)).toEqual([]); // 9 of 10: not judged yet
    shares.add([det('odd', 1)]);
    expect(shares.share('odd')).toBe(0.1);
    expect(rareClasses([det('odd', 0.6), det('common', 0.7)], shares, 0.2).map((d) => d.className)).toEqual(['odd']);
    expect(rareClasses([det('odd', 0.6)], shares, 0.1)).toEqual([]); // 0.1 is not below 0.1
    expect(rareClasses([det('never', 0.6)], shares, 0.1).map((d) => d.className)).toEqual(['never']);
  });

  it('rate limit: per minute and per hour, sliding', () => {
    const limit = new RateLimit(2, 3);
    expect(limit.take(0)).toBe(true);
    expect(limit.take(1000)).toBe(true);
    expect(limit.take(59_000)).toBe(false); // 2 in the last minute
    expect(limit.take(60_000)).toBe(true); // the one at 0 left the minute
    expect(limit.take(121_000)).toBe(false); // 3 in the hour
    expect(limit.allows(3_600_000)).toBe(true); // the one at 0 left the hour
    expect(limit.take(3_600_000)).toBe(true);
    expect(limit.allows(3_600_001)).toBe(false);
    expect(new RateLimit(0, 10).take(0)).toBe(false);
    expect(new RateLimit(10, 0).take(0)).toBe(false);
  });

  it('the quota takes the first pictures of its order until the excess is covered', () => {
    const files = [{ id: 'a', file: 'a', bytes: 300 }, { id: 'b', file: 'b', bytes: 300 }, { id: 'c', file: 'c', bytes: 300 }];
    expect(overQuota(files, 0).map((f) => f.id)).toEqual([]);
    expect(overQuota(files, 1).map((f) => f.id)).toEqual(['a']);
    expect(overQuota(files, 300).map((f) => f.id)).toEqual(['a']);
    expect(overQuota(files, 301).map((f) => f.id)).toEqual(['a', 'b']);
    expect(overQuota(files, 5000).map((f) => f.id)).toEqual(['a', 'b', 'c']);
  });
});

describe('capture configuration', () => {
  it('keeps alert and missed frames by default, every policy off, 2 GiB next to the database', () => {
    const c = config();
    expect(c.capture).toMatchObject({ alerts: true, missed: true, max_mb: 2048, quality: 90, queue: 8 });
    expect(c.capture.random).toEqual({ enabled: false, per_minute: 1, per_hour: 20, every: 300 });
    expect(c.capture.near_threshold).toEqual({ enabled: false, per_minute: 2, per_hour: 30, band: 0.1 });
    expect(c.capture.unconfirmed_track).toEqual({ enabled: false, per_minute: 2, per_hour: 30, min_sightings: 2 });
    expect(c.capture.rare_class).toEqual({ enabled: false, per_minute: 2, per_hour: 30, below_share: 0.05, window: 500 });
    expect(picturesDir(c)).toBe('/data/pictures');
    expect(captureBand(c)).toBe(0);
  });

  it('a camera overrides only the keys it sets', () => {
    const c = config({ capture: { random: { enabled: true, every: 50 }, near_threshold: { band: 0.2 } } }, {
      capture: { random: { every: 10 }, near_threshold: { enabled: true } },
    });
    const cam1 = capturePoliciesFor(c.cameras[0], c);
    const cam2 = capturePoliciesFor(c.cameras[1], c);
    expect(cam1.random).toEqual({ enabled: true, per_minute: 1, per_hour: 20, every: 10 });
    expect(cam2.random).toEqual({ enabled: true, per_minute: 1, per_hour: 20, every: 50 });
    expect(cam1.near_threshold).toEqual({ enabled: true, per_minute: 2, per_hour: 30, band: 0.2 });
    expect(cam2.near_threshold.enabled).toBe(false);
    expect(captureBand(c)).toBe(0.2); // only cam1 captures near-threshold frames, and asks for 0.2
  });

  it('names a bad key with its path', () => {
    const { problems } = validateConfig({
      cameras: [{ id: 'cam1', url: 'rtsp://x', capture: { random: { every: 0 }, alerts: false } }], model: { path: 'm.onnx' },
      capture: { max_mb: -1, near_threshold: { band: 2 } },
    });
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['cameras[0].capture.random.every', 'cameras[0].capture.alerts', 'capture.max_mb', 'capture.near_threshold.band']));
  });
});

describe('the pictures table (real SQLite file)', () => {
  const db = openDatabase(join(dir, 'pictures.db'), silentLogger());
  const table = new PicturesTable(db);
  const pic = (id: string, ts: number, extra: Partial<NewPicture> = {}): NewPicture => ({
    id, camera: 'cam1', ts, kind: 'capture', reason: 'random', file: `cam1/${id}.jpg`, width: 640, height: 480, bytes: 100,
    detections: [{ class_id: 1, class: 'red', confidence: 0.42, box: { x: 1, y: 2, w: 3, h: 4 } }], model: { name: 'm', version: '1' }, createdAt: ts + 5, ...extra,
  });

  it('records, lists by period and camera, and orders the quota: exported oldest first, then unexported oldest first', () => {
    table.record(pic('p1', 1000));
    table.record(pic('p2', 2000));
    table.record(pic('p3', 3000, { camera: 'cam2', bytes: 50 }));
    table.record(pic('p4', 4000));
    table.record(pic('p5', 500));
    expect(table.totalBytes()).toBe(450);
    expect(table.list({ since: 1000, until: 4000 }).map((p) => p.id)).toEqual(['p1', 'p2', 'p3']);
    expect(table.list({ camera: 'cam2' }).map((p) => p.id)).toEqual(['p3']);
    const [p1] = table.list({ since: 1000, until: 1001 });
    expect(p1).toMatchObject({ camera: 'cam1', ts: 1000, kind: 'capture', reason: 'random', alertId: null, verdictId: null, modelName: 'm', modelVersion: '1', exportedAt: null });
    expect(p1.detections).toEqual([{ class_id: 1, class: 'red', confidence: 0.42, box: { x: 1, y: 2, w: 3, h: 4 } }]);
    expect(table.markExported(['p4', 'p2'], 9000)).toBe(2);
    expect(table.quotaOrder(10).map((p) => p.id)).toEqual(['p2', 'p4', 'p5', 'p1', 'p3']);
    expect(overQuota(table.quotaOrder(10), 250).map((p) => p.id)).toEqual(['p2', 'p4', 'p5']);
    expect(table.olderThan(1, 86_400_000 + 1500, 10).map((p) => p.id)).toEqual(['p5', 'p1']);
    expect(table.remove(['p2', 'p4', 'nope'])).toBe(2);
    expect(table.totalBytes()).toBe(250);
  });

  it('an alert with a picture can be deleted: its picture becomes an orphan, as does one whose verdict is gone', async () => {
    const store = openStore(join(dir, 'orphans.db'), { outboxMaxRows: 10, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    const pictures = store.pictures();
    try {
      const event = makeEvent({ camera: 'cam1' });
      store.recordEvent(event);
      expect(() => pictures.record(pic('bad', 6000, { kind: 'alert', reason: 'alert', alertId: 'no-such-alert' }))).toThrow(/FOREIGN KEY/);
      pictures.record(pic('a1', 6000, { kind: 'alert', reason: 'alert', alertId: event.id }));
      pictures.record(pic('m1', 6000, { kind: 'missed', reason: 'missed', verdictId: 'no-such-verdict' }));
      expect(pictures.ofAlert(event.id).map((p) => p.id)).toEqual(['a1']);
      expect(pictures.orphans(10).map((p) => p.id)).toEqual(['m1']);
      store.markSent(store.pendingBatch(10).map((i) => i.id));
      expect(await store.purgeOlderThan(1, { now: event.ts + 86_400_001 })).toBe(1);
      expect(pictures.orphans(10).map((p) => p.id).sort()).toEqual(['a1', 'm1']);
      expect(pictures.list({ since: 6000, until: 6001 }).find((p) => p.id === 'a1')?.alertId).toBeNull();
    } finally {
      store.close();
      db.close();
    }
  });
});
