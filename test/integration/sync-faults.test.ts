import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { openAggregateStore } from '../../src/store/aggregate-store.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { idempotencyKey } from '../../src/sync/batch.js';
import { createSync } from '../../src/sync/index.js';
import { startIngestServer, type Fault, type IngestServer } from '../helpers/ingest-server.js';
import { writeMinutes } from '../helpers/stats-data.js';

const root = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'linesight-sync-faults-'));
const children = new Set<ChildProcess>();
const servers: IngestServer[] = [];
const log = silentLogger();
const DAY = 86_400_000;
const DAY0 = Date.parse('2025-03-04T00:00:00Z');
const MIN = 60_000;

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every written camera-minute is on the server exactly once; reports the tally for the note. */
function expectExactlyOnce(cloud: IngestServer, written: string[]): { minutes: number; lost: number; doubled: number } {
  const counts = cloud.minuteCounts();
  const lost = written.filter((k) => !counts.has(k)).length;
  const doubled = [...counts.values()].filter((c) => c > 1).length;
  const extra = [...counts.keys()].filter((k) => !written.includes(k)).length;
  expect({ lost, doubled, extra }).toEqual({ lost: 0, doubled: 0, extra: 0 });
  expect(counts.size).toBe(written.length);
  // A key always travelled with the same bytes.
  const shaByKey = new Map<string, Set<string>>();
  for (const r of cloud.requests) if (r.sha) shaByKey.set(r.key, (shaByKey.get(r.key) ?? new Set()).add(r.sha));
  for (const [key, shas] of shaByKey) expect(shas.size, key).toBe(1);
  expect(cloud.problems).toEqual([]);
  return { minutes: written.length, lost, doubled };
}

/** Wall-clock timers, shortened; `now` starts at `at`. Records every wait the upload asked for. */
function recordingClock(at: number, waits: number[]): Clock {
  const started = Date.now();
  return {
    ...systemClock,
    now: () => at + (Date.now() - started),
    setTimeout: (fn, ms) => {
      waits.push(ms);
      return setTimeout(fn, Math.min(ms, 25));
    },
  };
}

describe('sync under faults', () => {
  it('rides out 500s, timeouts, resets mid-body, 429/503 with Retry-After and lost answers (409): every minute exactly once', async () => {
    const cloud = await startIngestServer({ token: 'k' });
    servers.push(cloud);
    const store = openAggregateStore(join(dir, 'faults', 'linesight.db'), log);
    const written = writeMinutes(store, DAY0, 3 * 1440, ['cam1', 'cam2']);
    const now = DAY0 + 3 * DAY + 30 * MIN;
    const waits: number[] = [];
    const clock = recordingClock(now, waits);
    const tuning = { maxRowsPerBatch: 720, requestTimeoutMs: 800, backoffBaseMs: 100, backoffMaxMs: 400 };

    // The cloud is down for a whole run: it fails clearly, nothing is lost.
    cloud.faults.push('500', '500', '500');
    const first = createSync({ config: { url: cloud.url, token: 'k', schedule: '0 2 * * *', dir }, site: 'plant', line: 'line1', store, log, clock, tuning: { ...tuning, maxAttempts: 3 } });
    const failed = await first.runOnce();
    expect(failed).toMatchObject({ ok: false, batches: 0, backlog: { rows: 8640, minutes: 4320, pendingBatches: 1 } });
    expect(failed.error?.message).toContain('3 attempt(s) failed, the last with: 500 Internal Server Error ("internal error")');

    // Then it comes back, flaky.
    // An HTTP date 2 s ahead of the box's clock when the answer is sent (truncated to the second, so the wait is 1–2 s).
    const dateIn2s = () => new Date(clock.now() + 2000).toUTCString();
    const faults: Fault[] = [
      'timeout', 'ok',
      'reset', 'ok',
      { status: 429, retryAfter: '2' }, 'ok',
      'store-then-reset', 'ok', // the answer is lost; the retry gets 409
      '500', 'timeout', 'reset', 'ok',
      { status: 503, retryAfter: dateIn2s }, 'ok',
      'store-then-reset', 'reset', 'ok',
      'timeout', 'ok',
    ];
    cloud.faults.push(...faults);
    waits.length = 0;
    const second = createSync({ config: { url: cloud.url, token: 'k', schedule: '0 2 * * *', dir }, site: 'plant', line: 'line1', store, log, clock, tuning: { ...tuning, maxAttempts: 6 } });
    const result = await second.runOnce();
    expect(result.error).toBeUndefined();
    // 720 records = 360 minutes of 2 cameras: 4 batches a day, 12 in all.
    expect(result).toMatchObject({ ok: true, batches: 12, rows: 8640, duplicates: 2, backlog: { rows: 0, pendingBatches: 0 } });
    expect(cloud.faults).toEqual([]);
    expect(cloud.stored.size).toBe(12);
    const expectedKeys = Array.from({ length: 12 }, (_, i) => idempotencyKey('plant', 'line1', ['cam1', 'cam2'], DAY0 + i * 360 * MIN, DAY0 + (i + 1) * 360 * MIN));
    expect(new Set(cloud.stored.keys())).toEqual(new Set(expectedKeys));
    expect(cloud.requests.filter((r) => r.status === 409)).toHaveLength(2);
    // Retry-After honoured: 2 s as seconds, and up to 2 s as an HTTP date; the others are jittered and capped.
    expect(waits).toContain(2000);
    expect(waits.filter((w) => w > 400)).toHaveLength(2);
    const dated = waits.filter((w) => w > 400 && w !== 2000)[0];
    expect(dated).toBeGreaterThan(900);
    expect(dated).toBeLessThanOrEqual(2000);
    const tally = expectExactlyOnce(cloud, written);
    expect(tally).toEqual({ minutes: 8640, lost: 0, doubled: 0 });
    store.close();
  });

  it('resumes after SIGKILL during an upload with the same keys and bytes: nothing lost or doubled', async () => {
    const cloud = await startIngestServer({ token: 'harness' });
    servers.push(cloud);
    const db = join(dir, 'kill', 'linesight.db');
    const store = openAggregateStore(db, log);
    const written = writeMinutes(store, DAY0, 2 * 1440, ['cam1', 'cam2']);
    store.close();
    const env = { HARNESS_DB: db, HARNESS_URL: cloud.url, HARNESS_NOW: String(DAY0 + 2 * DAY + 30 * MIN), HARNESS_MAX_ROWS: '960' };
    const keys = Array.from({ length: 6 }, (_, i) => idempotencyKey('plant', 'line1', ['cam1', 'cam2'], DAY0 + i * 480 * MIN, DAY0 + (i + 1) * 480 * MIN));

    // 1: batch 1 is stored, batch 2 is in flight (body received, no answer) when the box dies.
    cloud.faults.push('ok', 'hold');
    let h = harness(env);
    await held(cloud, h);
    await kill(h);
    // 2: batch 2 again (same key, same bytes) is stored; batch 3 is stored but its answer never leaves.
    cloud.faults.push('ok', 'store-then-hold');
    h = harness(env);
    await held(cloud, h);
    await kill(h);
    // 3: batch 3 again → 409, counts as done; batches 4–6 go through.
    h = harness(env);
    const line = await h.result;
    expect(JSON.parse(line)).toEqual({ ok: true, batches: 4, rows: 4 * 960, duplicates: 1 });

    expect(cloud.requests.map((r) => [keys.indexOf(r.key) + 1, r.status])).toEqual([
      [1, 201], [2, 'none'],
      [2, 201], [3, 'none'],
      [3, 409], [4, 201], [5, 201], [6, 201],
    ]);
    expect(new Set(cloud.stored.keys())).toEqual(new Set(keys));
    expect(expectExactlyOnce(cloud, written)).toEqual({ minutes: 5760, lost: 0, doubled: 0 });

    const after = openAggregateStore(db, log);
    expect(after.acknowledgedUntil()).toBe(DAY0 + 2 * DAY);
    expect(after.db.prepare("SELECT COUNT(*) FROM sync_batches WHERE status = 'done'").pluck().get()).toBe(6);
    after.close();
  });
});

interface Harness {
  child: ChildProcess;
  exited: Promise<number | null>;
  result: Promise<string>;
  stderr(): string;
}

/** The server is holding the harness's request; fails at once if the harness died first. */
function held(cloud: IngestServer, h: Harness): Promise<void> {
  const died = h.exited.then((code) => {
    throw new Error(`harness exited with ${code} before the server held its request: ${h.stderr()}`);
  });
  return Promise.race([cloud.nextHeld(), died]);
}

function harness(env: Record<string, string>): Harness {
  const child = spawn(join(root, 'node_modules/.bin/vite-node'), ['test/fixtures/sync-harness.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    children.delete(child);
    resolve(code);
  }));
  const result = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('RESULT ')) resolve(line.slice(7));
    });
    void exited.then((code) => reject(new Error(`harness exited with ${code} without RESULT: ${stderr}`)));
  });
  result.catch(() => undefined);
  return { child, exited, result, stderr: () => stderr };
}

async function kill(h: Harness): Promise<void> {
  h.child.kill('SIGKILL');
  await h.exited;
}
