import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDetector, type Detector } from '../../src/infer/detector.js';
import { CoverageLedger } from '../../src/coverage.js';
import { InferenceScheduler } from '../../src/infer/scheduler.js';
import { LinesightError } from '../../src/errors.js';
import { InputPool } from '../../src/ingest/input-pool.js';
import { LETTERBOX_PAD } from '../../src/preprocess/letterbox.js';
import { silentLogger } from '../../src/log.js';
import { captureLogger } from '../helpers/capture-log.js';
import type { Frame, InspectedFrame, ModelInput } from '../../src/types.js';
import { sleep, waitFor } from '../helpers/wait.js';

const MODEL = join(import.meta.dirname, '../fixtures/models/squares-v8.onnx');

/**
 * The model input of a 640×480 grey frame with one 60×60 red square at (20 + seq × 10, 100),
 * letterboxed to 320×320 as ffmpeg does it (scale ½, 40 grey rows above and below): written
 * straight into `into`, since halving a flat-coloured picture leaves exact pixels.
 */
function drawInput(seq: number, into: Buffer = Buffer.alloc(320 * 320 * 3)): Buffer {
  into.fill(LETTERBOX_PAD);
  into.fill(64, 40 * 320 * 3, 280 * 320 * 3);
  const x0 = 10 + seq * 5;
  for (let y = 90; y < 120; y++) for (let x = x0; x < x0 + 30; x++) into.set([255, 0, 0], (y * 320 + x) * 3);
  return into;
}

/** Model inputs handed back by the scheduler (`release()`), each recorded once. */
const released = new Set<ModelInput>();

/** An input lent to the scheduler; its release is recorded. */
function lent(rgb: Buffer): ModelInput {
  const input: ModelInput = { rgb, width: 320, height: 320, release: () => void released.add(input) };
  return input;
}

/** A 640×480 frame as a letterboxing camera hands it on: its model input only; the square's x encodes the sequence number. */
function frame(camera: string, seq: number, input: ModelInput = lent(drawInput(seq))): Frame {
  return Object.freeze({ camera, seq, captureTs: Date.now() + seq, captureMono: performance.now() + seq, width: 640, height: 480, input, pictured: false });
}

/** The line's coverage of the cameras `a`–`d`: inspected and dropped frames summed over them. */
function totals(coverage: CoverageLedger, cameras = ['a', 'b', 'c', 'd']) {
  const all = cameras.map((c) => coverage.counts(c));
  const dropped = { superseded: 0, bad_frame: 0, shutdown: 0, inference_error: 0 };
  for (const c of all) for (const k of Object.keys(dropped) as Array<keyof typeof dropped>) dropped[k] += c.framesDropped[k];
  return { inspected: all.reduce((n, c) => n + c.framesInspected, 0), dropped };
}

/** The real detector, with every session call's start and end recorded. */
function recording(detector: Detector) {
  const calls: Array<{ frames: number; start: number; end?: number }> = [];
  const wrapped: Detector = {
    info: detector.info,
    async detect(frames) {
      const call: { frames: number; start: number; end?: number } = { frames: frames.length, start: performance.now() };
      calls.push(call);
      const out = await detector.detect(frames);
      call.end = performance.now();
      return out;
    },
    close: () => detector.close(),
  };
  return { wrapped, calls };
}

const detectors: Detector[] = [];
afterAll(async () => {
  await Promise.all(detectors.map((d) => d.close()));
});

async function setup() {
  const detector = await createDetector({ path: MODEL });
  detectors.push(detector);
  const { wrapped, calls } = recording(detector);
  const coverage = new CoverageLedger();
  const scheduler = new InferenceScheduler(wrapped, { batchMax: 4, batchWaitMs: 5 }, coverage, silentLogger());
  const seen: InspectedFrame[] = [];
  scheduler.on('inspected', (r) => seen.push(r));
  scheduler.start();
  return { scheduler, seen, calls, coverage };
}

describe('inference scheduler with the real detector', () => {
  it('puts the frames of four cameras offered together into one batch, each with its own detections', async () => {
    const { scheduler, seen, calls, coverage } = await setup();
    const frames = ['a', 'b', 'c', 'd'].map((cam) => frame(cam, 3));
    for (const f of frames) scheduler.offer(f);
    await waitFor('4 frames inspected', () => seen.length === 4);
    await scheduler.stop();
    expect(calls.map((c) => c.frames)).toEqual([4]);
    expect(seen.map((r) => r.batchSize)).toEqual([4, 4, 4, 4]);
    expect(seen.map((r) => r.frame.camera).sort()).toEqual(['a', 'b', 'c', 'd']);
    for (const r of seen) {
      expect(r.detections.map((d) => d.className)).toEqual(['red']);
      expect(Math.abs(r.detections[0].box.x - 50)).toBeLessThanOrEqual(3);
    }
    expect(totals(coverage).inspected).toBe(4);
    expect(frames.every((f) => released.has(f.input))).toBe(true);
  });

  it('keeps only the freshest waiting frame per camera, counts the rest as superseded, and emits in capture order', async () => {
    const { scheduler, seen, coverage } = await setup();
    for (let seq = 1; seq <= 12; seq++) scheduler.offer(frame('a', seq));
    await waitFor('the last frame inspected', () => seen.some((r) => r.frame.seq === 12));
    await scheduler.stop();
    const seqs = seen.map((r) => r.frame.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    const { inspected, dropped } = totals(coverage);
    expect(inspected + dropped.superseded).toBe(12);
    expect(dropped.superseded).toBeGreaterThan(0);
    // The detections belong to the frame they are reported with (x encodes seq).
    for (const r of seen) expect(Math.abs(r.detections[0].box.x - (20 + r.frame.seq * 10))).toBeLessThanOrEqual(3);
  });

  it('with one session, never starts a call before the previous one ended', async () => {
    const { scheduler, calls } = await setup();
    let seq = 0;
    const feeder = setInterval(() => scheduler.offer(frame('a', ++seq)), 2);
    await waitFor('6 session calls', () => calls.length >= 6 && calls[5].end !== undefined, 30_000);
    clearInterval(feeder);
    await scheduler.stop();
    expect(calls.slice(1).every((c, i) => c.start >= (calls[i].end ?? Infinity))).toBe(true);
  });

  it('runs frames on two sessions side by side (worker threads) and still emits each camera\'s results in order', async () => {
    const detector = await createDetector({ path: MODEL, sessions: 2 });
    detectors.push(detector);
    expect(detector.info.sessions).toBe(2);
    const calls: Array<{ seq: number; start: number; end: number }> = [];
    let n = 0;
    const wrapped: Detector = {
      info: detector.info,
      async detect(frames) {
        const call = { seq: frames[0].seq, start: performance.now(), end: 0 };
        calls.push(call);
        const out = await detector.detect(frames);
        if (n++ % 2 === 0) await sleep(400); // every other call comes back late, so the next one overtakes it
        call.end = performance.now();
        return out;
      },
      close: () => detector.close(),
    };
    const coverage = new CoverageLedger();
    const scheduler = new InferenceScheduler(wrapped, { batchMax: 1, batchWaitMs: 0, sessions: 2 }, coverage, silentLogger());
    const seen: InspectedFrame[] = [];
    scheduler.on('inspected', (r) => seen.push(r));
    scheduler.start();
    // Camera "a" offers its next frame against the credit the scheduler grants when it takes one (a file camera's flow control).
    let next = 1;
    scheduler.on('taken', (camera) => {
      if (camera === 'a' && next <= 8) scheduler.offer(frame('a', next++));
    });
    scheduler.offer(frame('a', next++));
    await waitFor('8 frames inspected', () => seen.length === 8, 20_000);
    await scheduler.stop();
    expect(seen.map((r) => r.frame.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const r of seen) expect(Math.abs(r.detections[0].box.x - (20 + r.frame.seq * 10)), `frame ${r.frame.seq}`).toBeLessThanOrEqual(3);
    // The calls did overlap, and a later one finished first: the order above is the scheduler's doing.
    expect(calls.some((c, i) => i > 0 && c.start < calls[i - 1].end)).toBe(true);
    expect(calls.some((c, i) => i > 0 && c.end < calls[i - 1].end)).toBe(true);
    expect(coverage.counts('a')).toMatchObject({ framesInspected: 8, framesDropped: { superseded: 0 } });
  });

  it('hands each model input in shared memory back once the scheduler is done with it: after its call, when superseded, when forgotten', async () => {
    const detector = await createDetector({ path: MODEL, sessions: 2 });
    detectors.push(detector);
    const { inputWidth: W, inputHeight: H } = detector.info;
    const pool = new InputPool(W, H, 4);
    /** A frame as a letterboxing camera hands it on: its model input in one of the pool's buffers (shared memory). */
    const pooled = (camera: string, seq: number): Frame => {
      const input = pool.acquire();
      drawInput(seq, input.rgb);
      const give = input.release;
      const recorded: ModelInput = { rgb: input.rgb, width: input.width, height: input.height, release: () => {
        released.add(recorded);
        give.call(input);
      } };
      return frame(camera, seq, recorded);
    };
    const heldDuringCall: boolean[] = [];
    const wrapped: Detector = {
      info: detector.info,
      async detect(frames) {
        const out = await detector.detect(frames);
        heldDuringCall.push(...frames.map((f) => !released.has(f.input))); // not handed back before the call settled
        return out;
      },
      close: () => detector.close(),
    };
    const coverage = new CoverageLedger();
    const scheduler = new InferenceScheduler(wrapped, { batchMax: 1, batchWaitMs: 0, sessions: 2 }, coverage, silentLogger());
    const seen: InspectedFrame[] = [];
    scheduler.on('inspected', (r) => seen.push(r));
    // Offered before the scheduler runs: each newer frame supersedes the one waiting, whose buffer comes back at once.
    const first = pooled('a', 1);
    scheduler.offer(first);
    const idleBefore = pool.idle;
    scheduler.offer(pooled('a', 2));
    expect(released.has(first.input)).toBe(true);
    expect(pool.idle).toBe(idleBefore + 1);
    scheduler.start();
    const offered = [first];
    for (let seq = 3; seq <= 8; seq++) {
      const f = pooled(seq % 2 ? 'b' : 'c', seq);
      offered.push(f);
      scheduler.offer(f);
      await sleep(30);
    }
    const dropped = () => totals(coverage).dropped.superseded;
    await waitFor('the frames inspected', () => seen.length + dropped() === 8, 20_000);
    // The detections come from the pixels in shared memory, as the worker read them (x encodes seq).
    for (const r of seen) expect(Math.abs(r.detections[0].box.x - (20 + r.frame.seq * 10)), `frame ${r.frame.seq}`).toBeLessThanOrEqual(3);
    expect(heldDuringCall.every(Boolean)).toBe(true);
    expect(offered.every((f) => released.has(f.input))).toBe(true);
    // Forgetting a camera hands its waiting frame back too, counted as shutdown.
    await scheduler.stop();
    const waiting = pooled('d', 9);
    scheduler.offer(waiting);
    scheduler.forget('d');
    expect(released.has(waiting.input)).toBe(true);
    expect(coverage.counts('d').framesDropped.shutdown).toBe(1);
  });

  it('counts the frames of a batch whose inference failed as inference_error (not bad_frame), logs it once, and runs the next batch', async () => {
    const detector = await createDetector({ path: MODEL });
    detectors.push(detector);
    let failing = true;
    const failed: number[] = [];
    const flaky: Detector = {
      info: detector.info,
      async detect(frames) {
        if (!failing) return detector.detect(frames);
        failed.push(frames.length);
        throw new LinesightError('E_INFERENCE', 'the session refused the batch');
      },
      close: () => detector.close(),
    };
    const { log, at } = captureLogger();
    const coverage = new CoverageLedger();
    const scheduler = new InferenceScheduler(flaky, { batchMax: 4, batchWaitMs: 5 }, coverage, log);
    const seen: InspectedFrame[] = [];
    scheduler.on('inspected', (r) => seen.push(r));
    scheduler.start();
    const offered = [frame('a', 1), frame('b', 1), frame('c', 1)];
    for (const f of offered) scheduler.offer(f);
    const failedFrames = () => totals(coverage).dropped.inference_error;
    await waitFor('the failed batch counted', () => failedFrames() === 3);
    offered.push(frame('a', 2));
    scheduler.offer(offered[3]);
    await waitFor('the second failed batch counted', () => failedFrames() === 4);
    failing = false;
    scheduler.offer(frame('b', 3));
    await waitFor('the next batch inspected', () => seen.length === 1);
    await scheduler.stop();
    expect(failed).toEqual([3, 1]);
    expect(totals(coverage)).toEqual({ inspected: 1, dropped: { superseded: 0, bad_frame: 0, shutdown: 0, inference_error: 4 } });
    expect(offered.every((f) => released.has(f.input))).toBe(true); // failed frames hand their inputs back too
    // The same error twice in a row is logged once, with its code.
    expect(at('error')).toHaveLength(1);
    expect(at('error')[0]).toMatchObject({ code: 'E_INFERENCE', err: 'the session refused the batch' });
    expect(Math.abs(seen[0].detections[0].box.x - 50)).toBeLessThanOrEqual(3);
  });
});

