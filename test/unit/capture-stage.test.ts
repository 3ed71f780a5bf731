import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureStage } from '../../src/capture/capture.js';
import { PictureKeeper } from '../../src/capture/keeper.js';
import { PINNED_MS } from '../../src/capture/recall.js';
import { ENCODED_WAITING_MAX, PictureWriter, type PictureJob } from '../../src/capture/writer.js';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { TrackView } from '../../src/events/tracker.js';
import { PicturePool } from '../../src/ingest/picture-pool.js';
import { silentLogger } from '../../src/log.js';
import { openStore } from '../../src/store/index.js';
import type { NewPicture } from '../../src/store/pictures.js';
import type { Detection, InspectedFrame, Picture } from '../../src/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'linesight-capture-stage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const W = 64;
const H = 48;
const pool = new PicturePool(W * H * 3, 4);
const picture = (seq: number, camera = 'cam1'): Picture => pool.share(pool.acquire().fill(seq % 255), { camera, seq, captureTs: 1_000_000 + seq * 200, width: W, height: H });
const det = (className: string, confidence: number): Detection => ({ classId: className === 'red' ? 0 : 1, className, confidence, box: { x: 1, y: 2, w: 3, h: 4 } });
const frame = (seq: number, detections: Detection[] = [], near: Detection[] = [], pictured = true): InspectedFrame => ({
  frame: { camera: 'cam1', seq, captureTs: 1_000_000 + seq * 200, captureMono: seq * 200, width: W, height: H, pictured },
  detections, near, inferredAt: 0, latencyMs: 0, inferMs: 0, batchSize: 1,
});
const track = (trackId: number, confirmed: boolean, missed = 0, hits = 2): TrackView => ({
  trackId, classId: 0, className: 'red', confidence: 0.4, box: { x: 0, y: 0, w: 1, h: 1 }, confirmed, hits, age: 3, missed,
});

function config(capture: Record<string, unknown>): Config {
  const { config: c, problems } = validateConfig({
    cameras: [{ id: 'cam1', url: 'rtsp://x/1' }], model: { path: 'm.onnx', confidence: 0.5 }, store: { path: join(dir, 'db') }, capture,
  });
  expect(problems).toEqual([]);
  return c!;
}

/** A stage whose writer only collects the jobs (and gives their pictures back). */
function rig(capture: Record<string, unknown>, draws: number[] = []) {
  const clock = new FakeClock(1_000_000);
  const jobs: PictureJob['row'][] = [];
  const encoded: PictureJob['picture'][] = [];
  const writer = {
    enqueue: (job: PictureJob) => {
      jobs.push(job.row);
      if ('release' in job.picture) job.picture.release();
      else encoded.push(job.picture);
      return true;
    },
  } as unknown as PictureWriter;
  const cfg = config(capture);
  const stage = new CaptureStage({ config: cfg, writer, clock, log: silentLogger(), random: () => draws.shift() ?? 0.99 });
  stage.addCamera(cfg.cameras[0]);
  /** One frame: its picture first (as usual), then its detections and the live tracks. */
  const feed = (f: InspectedFrame, tracks: TrackView[] = []) => {
    const p = picture(f.frame.seq);
    stage.picture(p);
    p.release();
    stage.inspected(f, tracks);
    clock.advance(200);
  };
  return { stage, jobs, encoded, feed, clock };
}

describe('the capture stage', () => {
  it('random 1-in-N: the draws below 1/N are kept, within the per-minute limit, with the frame\'s detections', () => {
    const { jobs, feed } = rig({ random: { enabled: true, every: 10, per_minute: 2, per_hour: 10 } }, [0.5, 0.05, 0.2, 0.09, 0.01, 0.0]);
    for (let seq = 1; seq <= 6; seq++) feed(frame(seq, [det('red', 0.7)]));
    // Draws 0.05 (seq 2) and 0.09 (seq 4) are kept; 0.01 and 0.0 are picks too but over the limit of 2 a minute.
    expect(jobs.map((j) => [j.reason, j.kind, j.ts])).toEqual([['random', 'capture', 1_000_400], ['random', 'capture', 1_000_800]]);
    expect(jobs[0].detections).toEqual([{ class_id: 0, class: 'red', confidence: 0.7, box: { x: 1, y: 2, w: 3, h: 4 } }]);
  });

  it('a frame without a picture is never kept; one whose picture comes after its detections is', () => {
    const { stage, jobs } = rig({ near_threshold: { enabled: true, band: 0.1, per_minute: 10 } });
    stage.inspected(frame(1, [], [det('red', 0.45)], false), []);
    expect(jobs).toEqual([]);
    stage.inspected(frame(2, [], [det('red', 0.45)]), []);
    expect(jobs).toEqual([]);
    const p = picture(2);
    stage.picture(p);
    p.release();
    expect(jobs.map((j) => [j.reason, j.ts])).toEqual([['near_threshold', 1_000_400]]);
    expect(jobs[0].detections.map((d) => d.confidence)).toEqual([0.45]);
    expect(stage.skipped.size).toBe(0);
  });

  it('near threshold: only a detection in the band below model.confidence', () => {
    const { jobs, feed } = rig({ near_threshold: { enabled: true, band: 0.1, per_minute: 10 } });
    feed(frame(1, [det('red', 0.9)], [det('red', 0.35)])); // under the band
    feed(frame(2, [det('red', 0.9)], [det('red', 0.4)])); // at its edge: kept
    expect(jobs.map((j) => j.ts)).toEqual([1_000_400]);
    expect(jobs[0].detections.map((d) => d.confidence)).toEqual([0.9, 0.4]);
  });

  it('unconfirmed tracks: the picture of the last sighting, once the track ends unconfirmed after enough sightings', () => {
    const { jobs, feed } = rig({ unconfirmed_track: { enabled: true, min_sightings: 2, per_minute: 10 } });
    feed(frame(1, [det('red', 0.6)]), [track(1, false, 0, 1), track(2, false, 0, 1), track(3, false, 0, 1)]);
    feed(frame(2, [det('red', 0.61)]), [track(1, false, 0, 2), track(2, false, 0, 2), track(3, false, 0, 1)]);
    feed(frame(3), [track(1, false, 1, 2), track(2, true, 0, 3), track(3, false, 1, 1)]);
    feed(frame(4), []); // 1 ends unconfirmed after 2 sightings; 2 was confirmed; 3 was seen once only
    expect(jobs.map((j) => [j.reason, j.ts])).toEqual([['unconfirmed_track', 1_000_400]]);
    expect(jobs[0].detections.map((d) => d.confidence)).toEqual([0.61]);
  });

  it('rare classes: judged once the window is full', () => {
    const { jobs, feed } = rig({ rare_class: { enabled: true, window: 4, below_share: 0.3, per_minute: 10 } });
    feed(frame(1, [det('red', 0.9), det('red', 0.9)]));
    feed(frame(2, [det('green', 0.9)])); // 3 of 4 counted: not judged yet
    feed(frame(3, [det('red', 0.9)])); // window full: red 3/4, green 1/4
    feed(frame(4, [det('green', 0.8)])); // 0.25 < 0.3: rare
    feed(frame(5, [det('red', 0.8)]));
    expect(jobs.map((j) => [j.reason, j.ts])).toEqual([['rare_class', 1_000_800]]);
  });

  it('alerts keep their picture with the detections of its frame; an unstored alert, or none, is counted', () => {
    const { stage, jobs, feed } = rig({});
    feed(frame(7, [det('red', 0.8), det('green', 0.3)]));
    const p = picture(7);
    const alert = { id: 'a-1', camera: 'cam1', trackId: 1, classId: 0, className: 'red', confidence: 0.8, box: { x: 1, y: 2, w: 3, h: 4 }, frame: { width: W, height: H, ts: p.captureTs }, ts: p.captureTs, confirmedAt: 0, seq: 1 };
    stage.alert(alert, p);
    stage.alert({ ...alert, id: 'a-2', stored: false }, p);
    stage.alert({ ...alert, id: 'a-3' }, undefined);
    p.release();
    expect(jobs.map((j) => [j.kind, j.reason, j.alertId, j.ts])).toEqual([['alert', 'alert', 'a-1', 1_001_400]]);
    expect(jobs[0].detections.map((d) => d.class)).toEqual(['red', 'green']);
    expect(Object.fromEntries(stage.skipped)).toEqual({ unstored_alert: 1, no_picture: 1 });
  });

  it('a missed defect keeps the nearest picture only when it is close to the frame drawn on', () => {
    const { stage, jobs, feed } = rig({});
    feed(frame(1, [det('red', 0.8)]));
    const body = { id: 'v-1', alert_id: null, camera: 'cam1', verdict: 'missed' as const, class: 'red', box: { x: 1, y: 1, w: 2, h: 2 }, operator: 'op', ts: '' };
    stage.verdict({ ...body, frame: { width: W, height: H, ts: new Date(1_000_250).toISOString() } });
    stage.verdict({ ...body, id: 'v-2', frame: { width: W, height: H, ts: new Date(1_000_200 + 5000).toISOString() } });
    expect(jobs.map((j) => [j.kind, j.verdictId, j.ts])).toEqual([['missed', 'v-1', 1_000_200]]);
    expect(Object.fromEntries(stage.skipped)).toEqual({ missed_frame_gone: 1 });
  });

  it('a missed defect drawn on a frame frozen seconds ago keeps that frame from the recent JPEGs', async () => {
    const { stage, jobs, encoded, feed } = rig({ recall_s: 3, recall_fps: 1 });
    for (let seq = 1; seq <= 30; seq++) {
      feed(frame(seq, [det('red', 0.5 + seq / 100)]));
      // One a second is due (every 5th frame at 200 ms); each encode finishes before the next frame here.
      if (seq % 5 === 1) await waitFor('the recent frame encoded', () => stage.recall.encoded === (seq + 4) / 5, 5000);
    }
    const body = { alert_id: null, camera: 'cam1', verdict: 'missed' as const, class: 'red', box: { x: 1, y: 1, w: 2, h: 2 }, operator: 'op', ts: '' };
    const at = (ms: number) => ({ width: W, height: H, ts: new Date(ms).toISOString() });
    stage.verdict({ ...body, id: 'v-old', frame: at(1_000_000 + 21 * 200 + 300) }); // frame 21, 1.8 s before the newest
    stage.verdict({ ...body, id: 'v-gone', frame: at(1_000_000 + 1 * 200) }); // frame 1: 5 s before the newest, 2 s before the oldest kept (11)
    expect(jobs.map((j) => [j.verdictId, j.ts])).toEqual([['v-old', 1_000_000 + 21 * 200]]);
    expect(jobs[0].detections.map((d) => d.confidence)).toEqual([0.71]);
    expect(encoded).toHaveLength(1);
    expect(await sharp((encoded[0] as { jpeg: Buffer }).jpeg).metadata()).toMatchObject({ format: 'jpeg', width: W, height: H });
    expect(Object.fromEntries(stage.skipped)).toEqual({ missed_frame_gone: 1 });
  });
});

describe('frames an operator froze', () => {
  it('keeps the exact frozen frame for a drawing minutes later, encodes it once, one camera encode at a time, until it expires', async () => {
    const { stage, jobs, encoded, feed, clock } = rig({ recall_s: 0 });
    for (let seq = 1; seq <= 3; seq++) feed(frame(seq, [det('red', 0.5 + seq / 100)]));
    const ts = (seq: number) => 1_000_000 + seq * 200;
    const [first, busy] = [stage.freeze('cam1', ts(3)), stage.freeze('cam1', ts(2))];
    expect(await busy).toBe(false); // frame 3 is being encoded for this camera
    expect(await first).toBe(true);
    expect(await stage.freeze('cam1', ts(3))).toBe(true); // frozen again: kept longer, not encoded again
    expect(stage.recall.encoded).toBe(1);
    expect(await stage.freeze('cam1', ts(3) + 100)).toBe(false); // not a frame's capture time
    expect(await stage.freeze('cam9', ts(3))).toBe(false);
    for (let seq = 4; seq <= 40; seq++) feed(frame(seq)); // 7 s later: frame 3's raw picture is long gone
    const body = { alert_id: null, camera: 'cam1', verdict: 'missed' as const, class: 'red', box: { x: 1, y: 1, w: 2, h: 2 }, operator: 'op', ts: '' };
    stage.verdict({ ...body, id: 'v-1', frame: { width: W, height: H, ts: new Date(ts(3)).toISOString() } });
    expect(jobs.map((j) => [j.verdictId, j.ts])).toEqual([['v-1', ts(3)]]);
    expect(jobs[0].detections.map((d) => d.confidence)).toEqual([0.53]);
    expect(encoded).toHaveLength(1);
    clock.advance(PINNED_MS);
    stage.verdict({ ...body, id: 'v-2', frame: { width: W, height: H, ts: new Date(ts(3)).toISOString() } });
    expect(jobs).toHaveLength(1);
    expect(Object.fromEntries(stage.skipped)).toEqual({ missed_frame_gone: 1 }); // expired: only the newest raw pictures, seconds away
  });
});

describe('the picture writer (real sharp, real files)', () => {
  function writer(opts: { dir?: string; queue?: number; record?: (p: NewPicture) => void; diskLow?: () => boolean } = {}) {
    const recorded: NewPicture[] = [];
    const w = new PictureWriter({
      dir: opts.dir ?? join(dir, 'pictures'), quality: 80, queue: opts.queue ?? 2, clock: new FakeClock(5_000), log: silentLogger(),
      record: opts.record ?? ((p) => recorded.push(p)), kept: () => undefined, diskLow: opts.diskLow ?? (() => false),
    });
    return { w, recorded };
  }
  const job = (seq: number, kind: 'alert' | 'capture'): PictureJob => ({
    picture: picture(seq), // the only share: the writer gives it back
    row: { id: `id-${seq}`, camera: 'cam1', ts: Date.UTC(2026, 11, 5, 10), kind, reason: kind === 'alert' ? 'alert' : 'random', detections: [] },
  });

  it('writes a JPEG of the picture\'s size and records it; a full queue drops and counts, an alert pushing out a capture', async () => {
    const { w, recorded } = writer({ queue: 2 });
    const jobs = [job(1, 'capture'), job(2, 'capture'), job(3, 'capture'), job(4, 'capture'), job(5, 'alert')];
    const taken = jobs.map((j) => w.enqueue(j));
    // 1 is being encoded, 2 and 3 wait; 4 finds the queue full; the alert pushes out 2.
    expect(taken).toEqual([true, true, true, false, true]);
    await waitFor('the queue to drain', () => recorded.length === 3, 10_000);
    expect(recorded.map((r) => r.id)).toEqual(['id-1', 'id-3', 'id-5']);
    expect(Object.fromEntries(w.counts.dropped)).toEqual({ queue_full: 2 });
    expect(recorded[0]).toMatchObject({ file: 'cam1/2026-12-05/id-1.jpg', width: W, height: H, createdAt: 5_000 });
    expect(await sharp(join(dir, 'pictures', recorded[0].file)).metadata()).toMatchObject({ format: 'jpeg', width: W, height: H });
    expect(w.counts.encoded).toBe(3);
    for (const j of jobs) expect(() => (j.picture as Picture).hold()).toThrow(/released already/); // every share given back
    await w.close();
  });

  it('keeps already encoded pictures (missed defects drawn in a row) apart from the bounded queue of camera pictures', async () => {
    const { w, recorded } = writer({ queue: 2 });
    const jpeg = await sharp(Buffer.alloc(W * H * 3, 90), { raw: { width: W, height: H, channels: 3 } }).jpeg().toBuffer();
    const drawn = (n: number): PictureJob => ({ picture: { jpeg, width: W, height: H }, row: { id: `m-${n}`, camera: 'cam1', ts: Date.UTC(2026, 11, 5, 10), kind: 'missed', reason: 'missed', detections: [] } });
    const raw = [job(1, 'alert'), job(2, 'alert'), job(3, 'alert'), job(4, 'alert')];
    const taken = [...raw.map((j) => w.enqueue(j)), ...Array.from({ length: ENCODED_WAITING_MAX }, (_, i) => w.enqueue(drawn(i)))];
    // 1 is being encoded, 2 and 3 fill the camera pictures' queue, 4 is dropped; every drawn picture waits.
    expect(taken).toEqual([true, true, true, false, ...Array<boolean>(ENCODED_WAITING_MAX).fill(true)]);
    expect(w.enqueue(drawn(ENCODED_WAITING_MAX))).toBe(false);
    await waitFor('the queue to drain', () => recorded.length === 3 + ENCODED_WAITING_MAX, 10_000);
    expect(Object.fromEntries(w.counts.dropped)).toEqual({ queue_full: 2 });
    expect(w.counts.encoded).toBe(3);
    await w.close();
  });

  it('fails softly: an unwritable folder or a refused record loses the picture only, counted, and leaves no file', async () => {
    const blocked = join(dir, 'not-a-folder');
    writeFileSync(blocked, 'x');
    const a = writer({ dir: blocked });
    expect(a.w.enqueue(job(1, 'alert'))).toBe(true);
    await a.w.close();
    expect(Object.fromEntries(a.w.counts.failed)).toEqual({ write: 1 });

    const b = writer({ dir: join(dir, 'refused'), record: () => { throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }); } });
    b.w.enqueue(job(2, 'alert'));
    await b.w.close();
    expect(Object.fromEntries(b.w.counts.failed)).toEqual({ record: 1 });
    expect(readdirSync(join(dir, 'refused', 'cam1', '2026-12-05'))).toEqual([]);

    const c = writer({ diskLow: () => true });
    expect(c.w.enqueue(job(3, 'alert'))).toBe(false);
    expect(Object.fromEntries(c.w.counts.dropped)).toEqual({ low_disk: 1 });
  });
});

describe('the picture keeper (real SQLite, real files)', () => {
  it('removes pictures past retention, orphans, then the oldest over the quota (exported first), each with its file', async () => {
    const root = join(dir, 'kept');
    const store = openStore(join(root, 'line.db'), { outboxMaxRows: 10, outboxFullPolicy: 'drop_oldest' }, silentLogger());
    try {
      const table = store.pictures();
      const now = Date.UTC(2026, 11, 5);
      const day = 86_400_000;
      const add = (id: string, ts: number, extra: Partial<NewPicture> = {}) => {
        const file = `cam1/${id}.jpg`;
        mkdirSync(join(root, 'pictures', 'cam1'), { recursive: true });
        writeFileSync(join(root, 'pictures', file), Buffer.alloc(100));
        table.record({ id, camera: 'cam1', ts, kind: 'capture', reason: 'random', file, width: 1, height: 1, bytes: 100, detections: [], createdAt: ts, ...extra });
      };
      add('old', now - 31 * day);
      add('orphan', now - 2 * day, { kind: 'missed', reason: 'missed', verdictId: 'gone' });
      add('p1', now - 5 * day);
      add('p2', now - 4 * day);
      add('p3', now - 3 * day);
      add('p4', now - 1 * day);
      table.markExported(['p3'], now);
      const keeper = new PictureKeeper({ table, dir: join(root, 'pictures'), maxBytes: 250, retentionDays: 30, clock: new FakeClock(now), log: silentLogger() });
      expect(keeper.totalBytes).toBe(600);
      await keeper.run();
      // Retention takes "old", the orphan goes, then 400 bytes is over 250: p3 (exported) and p1 (oldest unexported).
      expect(table.list().map((p) => p.id)).toEqual(['p2', 'p4']);
      expect(readdirSync(join(root, 'pictures', 'cam1')).sort()).toEqual(['p2.jpg', 'p4.jpg']);
      expect(Object.fromEntries(keeper.removed)).toEqual({ retention: 1, orphan: 1, quota: 2 });
      expect(keeper.totalBytes).toBe(200);
    } finally {
      store.close();
    }
  });
});
