/**
 * The worker backend when one of its threads dies: the call that thread was
 * running fails, the death is logged, and a fresh worker takes the lane, so the
 * line loses one frame, not its inference. A thread is killed with
 * `Worker.terminate()`, which the pool sees as it sees any death: an `exit`.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openInWorker, WORKERS, type WorkerBackend } from '../../src/infer/backend.js';
import { isLinesightError } from '../../src/errors.js';
import type { TensorInput } from '../../src/preprocess/tensor.js';
import { captureLogger } from '../helpers/capture-log.js';
import { waitFor } from '../helpers/wait.js';

const MODEL = join(import.meta.dirname, '../fixtures/models/squares-v8.onnx');
const INPUT: TensorInput = { name: 'images', type: 'float32', layout: 'nchw', width: 320, height: 320 };

/** A 320×320 grey image with a red square: the fixture model finds it. */
function image(): Buffer {
  const rgb = Buffer.alloc(320 * 320 * 3, 64);
  for (let y = 100; y < 160; y++) for (let x = 100; x < 160; x++) rgb.set([255, 0, 0], (y * 320 + x) * 3);
  return rgb;
}

let backend: WorkerBackend | undefined;
afterEach(async () => {
  await backend?.release();
  backend = undefined;
});

describe('inference workers: a thread that dies is replaced', () => {
  it.each([1, 2])('with %i session(s): fails only the call the dead thread ran, logs it, and later calls run on a fresh thread', async (sessions) => {
    const { log, at } = captureLogger();
    backend = await openInWorker(MODEL, { providers: ['cpu'], threads: 1 }, log, sessions);
    const b = backend;
    expect(b.sessions).toBe(sessions);
    const call = () => b.run(INPUT, { images: [image()], batch: 1 });
    const reference = await call();

    // Every lane busy with a queue behind it: the victim is running a call when it dies.
    const calls = Array.from({ length: 8 * sessions }, call);
    const [victim, ...others] = b[WORKERS]();
    const survivors = new Set(others.map((w) => w.threadId));
    await victim.terminate();
    const settled = await Promise.allSettled(calls);

    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(isLinesightError(failed[0].reason, 'E_MODEL_LOAD')).toBe(true);
    expect(String(failed[0].reason.message)).toContain('the inference worker exited with code 1 during the call');
    for (const s of settled) if (s.status === 'fulfilled') expect(s.value).toEqual(reference);
    expect(at('error').map((l) => l.msg)).toContain('an inference worker exited with code 1; its call fails and a new one takes its place');

    // The lane opens a fresh thread, which runs the model as the first did; the other lanes keep theirs.
    const fresh = await waitFor('a fresh worker in the dead one\'s lane', () => {
      const now = b[WORKERS]();
      return now.length === sessions && now.every((w) => w.threadId !== victim.threadId) ? now : null;
    }, 20_000);
    expect(fresh.filter((w) => survivors.has(w.threadId))).toHaveLength(sessions - 1);
    expect(await Promise.all(Array.from({ length: 2 * sessions }, call))).toEqual(Array.from({ length: 2 * sessions }, () => reference));

    // A thread that dies while idle is replaced too, before any call asks for it.
    const [idle] = b[WORKERS]();
    await idle.terminate();
    await waitFor('a fresh worker in the idle one\'s lane, no call waiting', () => {
      const now = b[WORKERS]();
      return now.length === sessions && now.every((w) => w.threadId !== idle.threadId);
    }, 20_000);
    expect(await call()).toEqual(reference);
  }, 60_000);
});
