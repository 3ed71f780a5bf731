/**
 * The worker pool. When one of its threads dies, the death is logged and a
 * fresh worker takes the lane at once, so the line keeps its inference. The
 * thread is killed with `Worker.terminate()` while it has no call: terminating
 * a thread inside onnxruntime's native `run` aborts the whole process
 * (`terminate called after throwing an instance of 'Napi::Error'`, seen in CI),
 * so the in-flight case (that call fails with E_MODEL_LOAD) is not exercised here.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openInWorker } from '../../src/infer/backend.js';
import type { WorkerPool } from '../../src/infer/worker-pool.js';
import { isLinesightError, LinesightError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { TensorInput } from '../../src/preprocess/tensor.js';
import { captureLogger } from '../helpers/capture-log.js';
import { sleep, waitFor } from '../helpers/wait.js';

const MODEL = join(import.meta.dirname, '../fixtures/models/squares-v8.onnx');
const INPUT: TensorInput = { name: 'images', type: 'float32', layout: 'nchw', width: 320, height: 320 };

/** A 320×320 grey image with a red square: the fixture model finds it. */
function image(): Buffer {
  const rgb = Buffer.alloc(320 * 320 * 3, 64);
  for (let y = 100; y < 160; y++) for (let x = 100; x < 160; x++) rgb.set([255, 0, 0], (y * 320 + x) * 3);
  return rgb;
}

let backend: WorkerPool | undefined;
afterEach(async () => {
  await backend?.release();
  backend = undefined;
});

describe('inference workers: a thread that dies is replaced', () => {
  it.each([1, 2])('with %i session(s): logs the death and opens a fresh thread at once, which runs the model as the first did', async (sessions) => {
    const { log, at } = captureLogger();
    backend = await openInWorker(MODEL, { providers: ['cpu'], threads: 1 }, log, sessions);
    const b = backend;
    expect(b.sessions).toBe(sessions);
    const call = () => b.run(INPUT, [image()], 1);
    const reference = await call();

    const [victim, ...others] = b.workers();
    const survivors = new Set(others.map((w) => w.threadId));
    await victim.terminate();
    expect(at('error').map((l) => l.msg)).toContain('an inference worker exited with code 1; its call fails and a new one takes its place');
    // No call is waiting: the lane must reopen by itself, so the next frame does not wait for a model load.
    const fresh = await waitFor('a fresh worker in the dead one\'s lane, no call waiting', () => {
      const now = b.workers();
      return now.length === sessions && now.every((w) => w.threadId !== victim.threadId) ? now : null;
    }, 20_000);
    expect(fresh.filter((w) => survivors.has(w.threadId))).toHaveLength(sessions - 1);
    expect(await Promise.all(Array.from({ length: 2 * sessions }, call))).toEqual(Array.from({ length: 2 * sessions }, () => reference));
  }, 60_000);

  it('a lane whose worker dies again within a minute waits 5 s before the next, instead of reloading the model back to back', async () => {
    const { log, at } = captureLogger();
    backend = await openInWorker(MODEL, { providers: ['cpu'], threads: 1 }, log, 1);
    const b = backend;
    const call = () => b.run(INPUT, [image()], 1);
    const reference = await call();
    const [first] = b.workers();
    await first.terminate();
    const second = await waitFor('the first replacement, at once', () => b.workers().find((w) => w.threadId !== first.threadId) ?? null, 20_000);
    await second.terminate();
    const diedAgainAt = Date.now();
    expect(at('error').at(-1)?.msg).toBe('an inference worker exited with code 1, the second time within 60 s in this lane; its call fails and a new one opens in 5 s');
    await sleep(2000);
    expect(b.workers()).toHaveLength(0);
    // Meanwhile no session runs: a call fails at once rather than waiting.
    await expect(call()).rejects.toThrow(/no inference worker is running/);
    await waitFor('the next replacement, after the pause', () => b.workers().length === 1, 20_000);
    expect(Date.now() - diedAgainAt).toBeGreaterThanOrEqual(5000);
    expect(await call()).toEqual(reference);
  }, 60_000);
});


describe('inference workers: a failing call keeps its error code across the thread boundary', () => {
  it('rejects a wrong-size image with a LinesightError E_FRAME_SIZE, and the worker runs the next call', async () => {
    backend = await openInWorker(MODEL, { providers: ['cpu'], threads: 1 }, silentLogger(), 1);
    const reference = await backend.run(INPUT, [image()], 1);
    const err = await backend.run(INPUT, [Buffer.alloc(100)], 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinesightError);
    expect(isLinesightError(err, 'E_FRAME_SIZE')).toBe(true);
    expect((err as Error).message).toBe('Expected 307200 bytes for a 320×320 RGB24 image but received 100');
    expect(await backend.run(INPUT, [image()], 1)).toEqual(reference);
  });

  it('rejects a call onnxruntime refuses (input dims the model does not take) with E_INFERENCE and onnxruntime\'s message', async () => {
    backend = await openInWorker(MODEL, { providers: ['cpu'], threads: 1 }, silentLogger(), 1);
    const small: TensorInput = { ...INPUT, width: 10, height: 10 };
    const err = await backend.run(small, [Buffer.alloc(10 * 10 * 3)], 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinesightError);
    expect(err).toMatchObject({ code: 'E_INFERENCE', message: expect.stringContaining('Got invalid dimensions for input: images') });
  });

  it('hands images in shared memory to the worker: the output is the same as from a copied buffer', async () => {
    backend = await openInWorker(MODEL, { providers: ['cpu'], threads: 1 }, silentLogger(), 1);
    const copied = image();
    const shared = Buffer.from(new SharedArrayBuffer(copied.length));
    copied.copy(shared);
    expect(await backend.run(INPUT, [shared], 1)).toEqual(await backend.run(INPUT, [copied], 1));
  });
});
