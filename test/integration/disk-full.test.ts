/**
 * A full disk, for real: the database lives on a 16 MiB tmpfs that the test
 * fills with a file until the kernel answers ENOSPC, while the real line runs
 * (ffmpeg file cameras, the ONNX model, mosquitto). Mounting needs root; CI runs
 * as root, elsewhere the tests are skipped and say why.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { MINUTE_MS, minuteOf, type Clock } from '../../src/clock.js';
import { validateConfig } from '../../src/config/load.js';
import type { StoredEvent } from '../../src/events/stage.js';
import { openStore, type Store } from '../../src/store/index.js';
import { captureLogger } from '../helpers/capture-log.js';
import { checkSchema, type JsonSchema } from '../helpers/schema-check.js';
import { ROOT } from '../helpers/cli.js';
import { makeClip, type SquareSpec } from '../helpers/clips.js';
import { makeEvent } from '../helpers/events.js';
import { fastTuning } from '../helpers/mqtt-config.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { writeMinutes } from '../helpers/stats-data.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const ALERT_SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs/alert.schema.json'), 'utf8')) as JsonSchema;
const MIB = 1024 * 1024;
const IS_ROOT = process.getuid?.() === 0;
const SKIP_REASON = 'not root: mounting a tmpfs (a filesystem that can really fill up) needs root; CI runs these as root';
if (!IS_ROOT) console.warn(`disk-full tests skipped: ${SKIP_REASON}`);

/** A red and a green square per 2 s loop of the clip: about one alert per second per camera, for as long as the test likes. */
const SQUARES: SquareSpec[] = [
  { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.2, to: 0.9 },
  { color: 'green', x: 420, y: 300, w: 60, h: 60, from: 1.1, to: 1.8 },
];

/**
 * The system clock, which the test can move ahead as if that much time had
 * passed at once (both readings move, timers due on the way fire): a minute of
 * statistics ends during the fault without the test waiting a minute.
 */
function fastForwardClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  const pending = new Map<number, { due: number; fn: () => void; handle: NodeJS.Timeout }>();
  let ids = 0;
  const monotonic = () => performance.now() + offset;
  const arm = (id: number, due: number, fn: () => void) => {
    const handle = setTimeout(() => {
      pending.delete(id);
      fn();
    }, Math.max(0, due - monotonic())).unref();
    pending.set(id, { due, fn, handle });
  };
  const clear = (id: unknown) => {
    clearTimeout(pending.get(id as number)?.handle);
    pending.delete(id as number);
  };
  return {
    now: () => Date.now() + offset,
    monotonic,
    setTimeout(fn, ms) {
      const id = ++ids;
      arm(id, monotonic() + ms, fn);
      return id;
    },
    clearTimeout: clear,
    setInterval(fn, ms) {
      const id = ++ids;
      const tick = () => {
        arm(id, monotonic() + ms, tick);
        fn();
      };
      arm(id, monotonic() + ms, tick);
      return id;
    },
    clearInterval: clear,
    advance(ms) {
      offset += ms;
      for (const [id, t] of [...pending]) {
        clearTimeout(t.handle);
        arm(id, t.due, t.fn);
      }
    },
  };
}

/** Writes zeros until the kernel says ENOSPC, in ever smaller pieces so not a byte is left. Returns the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const size of [MIB, 4096, 1]) {
      const zeros = Buffer.alloc(size);
      for (;;) {
        try {
          written += writeSync(fd, zeros);
        } catch (err) {
          if ((err as { code?: string }).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

const freeBytes = (dir: string) => Number(statfsSync(dir).bavail) * Number(statfsSync(dir).bsize);
const isAlert = (m: Received) => m.topic.endsWith('/alert');

let mnt = '';
let line: Line | undefined;
let broker: Mosquitto | undefined;
let sub: Subscriber | undefined;
let store: Store | undefined;

afterEach(async () => {
  await line?.stop();
  line = undefined;
  store?.close();
  store = undefined;
  await sub?.close();
  sub = undefined;
  await broker?.dispose();
  broker = undefined;
  if (mnt) for (const entry of ['line', 'prune']) rmSync(join(mnt, entry), { recursive: true, force: true });
  await expectNoStrays();
});
afterAll(() => killStrays());

describe.skipIf(!IS_ROOT)('a full disk (real tmpfs)', () => {
  beforeAll(() => {
    mnt = mkdtempSync(join(tmpdir(), 'linesight-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    if (!mnt) return;
    try {
      execFileSync('umount', [mnt]);
    } catch {
      execFileSync('umount', ['-l', mnt]); // something still holds a file: detach it anyway, never leave a mount behind
    }
    rmSync(mnt, { recursive: true, force: true });
    mnt = '';
  });

  it('keeps alerts flowing to the broker, says "store full" once, and resumes writing without a restart', async () => {
    broker = await startMosquitto();
    sub = await subscribe(broker.url, 'linesight/#');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 2, squares: SQUARES });
    const db = join(mnt, 'line', 'line.db');
    const { config, problems } = validateConfig({
      site: 'plant', line: 'l1',
      cameras: [{ id: 'cam1', url: clip, fps: 10 }, { id: 'cam2', url: clip, fps: 10 }],
      model: { path: MODEL, confidence: 0.5 },
      store: { path: db, min_free_mb: 0 }, // the disk watch would prune; this test is about the store with nothing to prune
      mqtt: { url: broker.url, protocol_version: 5, status_interval: 60 },
      overlay: { host: '127.0.0.1', port: 0 },
    });
    expect(problems).toEqual([]);
    const capture = captureLogger('info');
    const clock = fastForwardClock();
    line = await startLine(config!, capture.log, { publisherTuning: fastTuning, clock });
    const running = line;
    const offered = new Map<string, StoredEvent>();
    running.onAlert((a) => offered.set(a.id, a));
    // Per camera and minute (of the line's clock), frames inspected: what the statistics must add up to.
    const inspected = new Map<string, number>();
    running.onInspected((r) => {
      const key = `${r.frame.camera}|${minuteOf(clock.now())}`;
      inspected.set(key, (inspected.get(key) ?? 0) + 1);
    });
    const alertsAt = () => sub!.messages.filter(isAlert);

    await waitFor('stored alerts delivered before the fault', () => alertsAt().filter((m) => m.body.stored === undefined).length >= 2, 30_000);
    const committedBefore = new Set(running.store.recentAlerts({ limit: 10_000 }).map((a) => a.id));

    const faultAt = performance.now();
    const filler = join(mnt, 'filler');
    const filled = fill(filler);
    expect(freeBytes(mnt)).toBeLessThan(4096);
    await waitFor('the store to say it is full', () => running.store.health().state === 'full', 20_000);
    const fullAt = performance.now();
    const minuteBefore = minuteOf(clock.now());
    // A minute of statistics ends while the disk is full: its write fails and it waits in memory.
    clock.advance(MINUTE_MS + 15_000);
    const unstoredAtBroker = () => alertsAt().filter((m) => m.body.stored === false);
    // Several seconds of a full disk, the cameras running all along.
    await waitFor('6 s of fault and unstored alerts from both cameras at the broker', () => {
      const got = unstoredAtBroker();
      return performance.now() - faultAt >= 6000 && got.length >= 8 && new Set(got.map((m) => m.body.camera)).size === 2;
    }, 30_000);
    for (const m of unstoredAtBroker()) {
      expect(m.qos).toBe(1);
      expect(m.userProperties).toMatchObject({ id: m.body.id, schema: 'linesight.alert/1', stored: 'false' });
      expect(m.body).toMatchObject({ schema: 'linesight.alert/1', site: 'plant', line: 'l1', replayed: false });
      expect(checkSchema(ALERT_SCHEMA, m.body)).toEqual([]);
    }
    await sub.waitFor((m) => m.some((x) => x.topic === 'linesight/plant/l1/status' && (x.body.store as { state?: string } | undefined)?.state === 'full'));
    const nodeFull = sub.messages.filter((x) => x.topic === 'linesight/plant/l1/status').at(-1)!.body.store as Record<string, unknown>;
    expect(nodeFull).toMatchObject({ state: 'full', free_mb: 0 });
    const metrics = await (await fetch(`${running.overlay!.url}metrics`)).text();
    expect(metrics).toMatch(/^linesight_store_state\{state="full"\} 1$/m);
    expect(metrics).toMatch(/^linesight_store_state\{state="ok"\} 0$/m);
    expect(Number(/^linesight_alerts_unstored_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(8);
    expect(Number(/^linesight_store_free_bytes (\d+)$/m.exec(metrics)?.[1])).toBeLessThan(4096);
    expect(running.stats.countSince(minuteBefore).rows).toBe(0); // nothing of the statistics could be written
    const unstoredOffered = [...offered.values()].filter((a) => a.stored === false).length;
    expect(unstoredOffered).toBeGreaterThanOrEqual(8);

    // Space comes back.
    const freedAt = performance.now();
    rmSync(filler);
    await waitFor('the store to be writable again', () => running.store.health().state === 'ok', 20_000);
    const recoveredAt = performance.now();
    await waitFor('a new alert stored, with its seq, and delivered', () => {
      const stored = new Map(running.store.recentAlerts({ limit: 10_000 }).map((a) => [a.id, a]));
      return alertsAt().some((m) => m.body.stored === undefined && !committedBefore.has(m.body.id as string) && stored.get(m.body.id as string)?.status === 'sent');
    }, 20_000);
    await waitFor('the minute held through the fault to be written', () => running.stats.countSince(minuteBefore).rows >= 2, 20_000);
    await sub.waitFor((m) => m.some((x) => x.topic === 'linesight/plant/l1/status' && (x.body.store as { state?: string } | undefined)?.state === 'ok'));
    expect(running.store.integrityCheck()).toEqual(['ok']);

    await waitFor('every offered alert delivered', () => {
      const got = new Set(alertsAt().map((m) => m.body.id));
      return [...offered.keys()].every((id) => got.has(id));
    }, 20_000);
    await line.stop();
    line = undefined;

    // Accounting, read back from the broker and the file.
    const received = alertsAt();
    const ids = received.map((m) => m.body.id as string);
    const unique = new Set(ids);
    expect(ids.length).toBe(unique.size); // each alert once
    const lost = [...offered.keys()].filter((id) => !unique.has(id));
    expect(lost).toEqual([]);
    for (const camera of ['cam1', 'cam2']) {
      // Unstored alerts continued the camera's seq and the stored ones after them continued past it: no gap, no repeat.
      const seqs = received.filter((m) => m.body.camera === camera).map((m) => m.body.seq as number).sort((a, b) => a - b);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
    const file = new Database(db, { readonly: true });
    try {
      const rows = file.prepare('SELECT id, status FROM alerts').all() as Array<{ id: string; status: string }>;
      expect(rows.filter((r) => r.status !== 'sent')).toEqual([]);
      expect(rows.every((r) => unique.has(r.id))).toBe(true); // no committed alert lost
      expect(rows.length + unstoredOffered).toBe(offered.size);
      const stats = file.prepare('SELECT camera, minute, frames_inspected AS n FROM aggregates').all() as Array<{ camera: string; minute: number; n: number }>;
      const written = new Map(stats.map((s) => [`${s.camera}|${s.minute}`, s.n]));
      const minutesLost = [...inspected.keys()].filter((k) => written.get(k) !== inspected.get(k));
      expect(minutesLost).toEqual([]);
      expect((file.pragma('integrity_check') as Array<{ integrity_check: string }>)[0].integrity_check).toBe('ok');

      const storeLog = capture.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('store full'));
      expect(storeLog).toHaveLength(1);
      expect(storeLog[0]).toMatchObject({ level: 50, code: 'E_STORE', state: 'full', sqlite: 'SQLITE_FULL' });
      expect(storeLog[0].free_bytes).toBeLessThan(4096);
      const back = capture.at('info').filter((l) => l.msg.startsWith('store writable again'));
      expect(back).toHaveLength(1);
      expect(back[0]).toMatchObject({ was: 'full', unstored: unstoredOffered });
      expect(capture.lines.filter((l) => l.msg.startsWith('could not store an alert'))).toEqual([]); // none lost, none shouted about

      const figures = {
        fault: 'filesystem of the database full (ENOSPC)',
        injected: `16 MiB tmpfs filled with a ${(filled / MIB).toFixed(1)} MiB file of zeros; the filler deleted to recover`,
        fault_s: round((freedAt - faultAt) / 1000),
        detected_after_s: round((fullAt - faultAt) / 1000),
        alerts: { offered: offered.size, unstored: unstoredOffered, delivered: unique.size, lost: lost.length, duplicated: ids.length - unique.size },
        statistics_minutes: { offered: inspected.size, written: [...inspected.keys()].filter((k) => written.has(k)).length, lost: minutesLost.length },
        recovery_s: round((recoveredAt - freedAt) / 1000),
      };
      console.log(`disk-full figures: ${JSON.stringify(figures)}`);
    } finally {
      file.close();
    }
  });

  it('below store.min_free_mb prunes uploaded statistics and sent alerts, oldest first, and never an unsent alert', async () => {
    const capture = captureLogger('info');
    store = openStore(join(mnt, 'prune', 'line.db'), { outboxMaxRows: 100_000, outboxFullPolicy: 'drop_oldest' }, capture.log);
    const t0 = Date.UTC(2025, 0, 1);
    const events = Array.from({ length: 3000 }, (_, i) => makeEvent({ camera: i % 2 ? 'cam1' : 'cam2', ts: t0 + i * 1000 }));
    for (const e of events) store.recordEvent(e);
    // The oldest 2500 went out; the newest 500 wait for the broker.
    store.markSent(store.pendingBatch(2500).map((b) => b.id));
    const stats = store.statistics();
    writeMinutes(stats, t0, 600, ['cam1', 'cam2']);
    const acked = t0 + 400 * MINUTE_MS; // the upload has acknowledged the first 400 minutes
    stats.db.prepare("INSERT INTO sync_state (name, value) VALUES ('acked_until', ?)").run(String(acked));
    stats.db.pragma('wal_checkpoint(TRUNCATE)');

    const minFreeMb = 4;
    const filler = join(mnt, 'filler');
    const fd = openSync(filler, 'w');
    writeSync(fd, Buffer.alloc(Math.max(0, freeBytes(mnt) - 3 * MIB)));
    closeSync(fd);
    const before = freeBytes(mnt);
    expect(before).toBeLessThan(minFreeMb * MIB);
    const watch = store.watchDisk({ minFreeMb, everyMs: 3_600_000 });
    const result = await watch.check();

    expect(result.below).toBe(true);
    expect(result.pruned!.minutes).toBeGreaterThan(0);
    expect(result.compacted).toMatchObject({ vacuumed: true, walBusy: false });
    expect(freeBytes(mnt)).toBeGreaterThan(before);
    const left = store.recentAlerts({ limit: 10_000 });
    const queued = left.filter((a) => a.status === 'queued');
    expect(queued.map((a) => a.id).sort()).toEqual(events.slice(2500).map((e) => e.id).sort()); // every unsent alert kept
    expect(store.depth()).toBe(500);
    const sentLeft = left.filter((a) => a.status === 'sent').map((a) => a.ts).sort((a, b) => a - b);
    const gone = 2500 - sentLeft.length;
    expect(gone).toBe(result.pruned!.alerts);
    if (sentLeft.length > 0) expect(sentLeft[0]).toBe(events[gone].ts); // the oldest went first
    expect(stats.countSince(acked).rows).toBe(400); // statistics not yet uploaded are kept
    if (result.pruned!.alerts > 0) expect(stats.countSince(0).rows).toBe(400); // alerts only once the uploaded statistics are gone
    expect(store.integrityCheck()).toEqual(['ok']);

    // A second check warns no more: once per stay below the threshold.
    await watch.check();
    const warnings = capture.at('warn').filter((l) => l.msg.includes('below store.min_free_mb'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ min_free_mb: minFreeMb });
    expect(warnings[0].free_mb).toBeLessThan(minFreeMb);
    console.log(`min_free_mb figures: ${JSON.stringify({
      free_mb_before: round(before / MIB), free_mb_after: round(freeBytes(mnt) / MIB),
      pruned_minutes: result.pruned!.minutes, pruned_alerts: result.pruned!.alerts, unsent_kept: queued.length,
    })}`);
    rmSync(filler);
  });
});

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
