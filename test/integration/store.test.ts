import { existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { isLinesightError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { openStore, type Store, type StoreOptions } from '../../src/store/index.js';
import { migrations } from '../../src/store/migrations.js';
import { captureLogger } from '../helpers/capture-log.js';
import { makeEvent } from '../helpers/events.js';

const dir = mkdtempSync(join(tmpdir(), 'linesight-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const freshPath = () => join(dir, `db${++n}`, 'nested', 'linesight.db');
const roomy: StoreOptions = { outboxMaxRows: 1000, outboxFullPolicy: 'drop_oldest' };
const log = silentLogger();

function expectCode(fn: () => unknown, code: string): Error {
  try {
    fn();
  } catch (err) {
    expect(isLinesightError(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    return err as Error;
  }
  throw new Error(`expected ${code} to be thrown`);
}

describe('store', () => {
  it('creates its folder, migrates to the current schema and uses WAL', () => {
    const path = freshPath();
    const store = openStore(path, roomy, log);
    expect(store.integrityCheck()).toEqual(['ok']);
    store.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(migrations.length);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare("SELECT value FROM counters WHERE name = 'outbox_depth'").get()).toEqual({ value: 0 });
    raw.close();
  });

  it('keeps statistics on its own connection: one handle per file, closed with the store', () => {
    const store = openStore(freshPath(), roomy, log);
    const stats = store.statistics();
    expect(store.statistics()).toBe(stats);
    stats.writeMinutes([]);
    stats.close(); // the statistics do not own the connection
    expect(stats.db.open).toBe(true);
    store.recordEvent(makeEvent({ camera: 'cam1' }));
    expect(stats.countSince(0)).toEqual({ rows: 0, minutes: 0 });
    store.close();
    expect(stats.db.open).toBe(false);
  });

  it('records alert, outbox row and per-camera seq together; seq survives a restart', () => {
    const path = freshPath();
    let store: Store = openStore(path, roomy, log);
    const a = makeEvent({ camera: 'cam1' });
    expect(store.recordEvent(a, { name: 'yolo', version: '3' })).toEqual({ seq: 1, outcome: 'queued' });
    expect(store.recordEvent(makeEvent({ camera: 'cam1' }))).toEqual({ seq: 2, outcome: 'queued' });
    expect(store.recordEvent(makeEvent({ camera: 'cam2' }))).toEqual({ seq: 1, outcome: 'queued' });
    store.close();

    store = openStore(path, roomy, log);
    expect(store.recordEvent(makeEvent({ camera: 'cam1' })).seq).toBe(3);
    expect(store.depth()).toBe(4);
    expect(store.depth('cam1')).toBe(3);
    const batch = store.pendingBatch(10);
    expect(batch.map((b) => [b.event.camera, b.seq])).toEqual([['cam1', 1], ['cam1', 2], ['cam2', 1], ['cam1', 3]]);
    expect(batch[0]).toMatchObject({ event: a, model: { name: 'yolo', version: '3' }, replayed: false });
    expect(store.pendingBatch(10, batch[1].id).map((b) => b.seq)).toEqual([1, 3]);
    store.close();

    const raw = new Database(path, { readonly: true });
    const row = raw.prepare('SELECT * FROM alerts WHERE id = ?').get(a.id) as Record<string, unknown>;
    expect(row).toMatchObject({
      camera: 'cam1', seq: 1, ts: a.ts, track_id: 1, class_name: 'scratch', confidence: 0.87,
      box_x: 100, box_y: 120, box_w: 40, box_h: 30, frame_width: 1280, frame_height: 720, frame_ts: a.frame.ts,
      model_name: 'yolo', model_version: '3', status: 'queued', sent_at: null,
    });
    raw.close();
  });

  it('removes rows only when marked sent, keeps them queryable as sent alerts', () => {
    const store = openStore(freshPath(), roomy, log);
    const events = [0, 1, 2].map((i) => makeEvent({ ts: 1_000_000 + i }));
    for (const e of events) store.recordEvent(e);
    const [first, second] = store.pendingBatch(2);
    expect(store.markSent([first.id, second.id], 5_000)).toBe(2);
    expect(store.markSent([first.id])).toBe(0); // a duplicate PUBACK changes nothing
    expect(store.depth()).toBe(1);
    expect(store.pendingBatch(10).map((b) => b.event.id)).toEqual([events[2].id]);
    const recent = store.recentAlerts({ limit: 10 });
    expect(recent.map((r) => [r.id, r.status, r.sentAt])).toEqual([
      [events[2].id, 'queued', undefined],
      [events[1].id, 'sent', 5_000],
      [events[0].id, 'sent', 5_000],
    ]);
    expect(store.recentAlerts({ limit: 10, since: 1_000_001 }).map((r) => r.seq)).toEqual([3, 2]);
    expect(store.recentAlerts({ limit: 1, camera: 'nope' })).toEqual([]);
    store.close();
  });

  it('flags every waiting alert as replayed', () => {
    const store = openStore(freshPath(), roomy, log);
    store.recordEvent(makeEvent());
    store.recordEvent(makeEvent());
    expect(store.markAllReplayed()).toBe(2);
    store.recordEvent(makeEvent());
    expect(store.pendingBatch(10).map((b) => b.replayed)).toEqual([true, true, false]);
    store.close();
  });

  it('drop_oldest keeps the newest alerts and counts the dropped ones across restarts', () => {
    const path = freshPath();
    const opts: StoreOptions = { outboxMaxRows: 3, outboxFullPolicy: 'drop_oldest' };
    let store = openStore(path, opts, log);
    const outcomes = [1, 2, 3, 4, 5].map(() => store.recordEvent(makeEvent()).outcome);
    expect(outcomes).toEqual(['queued', 'queued', 'queued', 'dropped_oldest', 'dropped_oldest']);
    store.close();
    store = openStore(path, opts, log);
    expect(store.counters()).toEqual({ depth: 3, dropped: 2, rejected: 0 });
    expect(store.pendingBatch(10).map((b) => b.seq)).toEqual([3, 4, 5]);
    expect(store.recentAlerts({ limit: 10 }).map((r) => r.status)).toEqual(['queued', 'queued', 'queued', 'dropped', 'dropped']);
    store.close();
  });

  it('reject_new refuses new alerts but gives them a seq so the gap is visible', () => {
    const store = openStore(freshPath(), { outboxMaxRows: 2, outboxFullPolicy: 'reject_new' }, log);
    const results = [1, 2, 3].map(() => store.recordEvent(makeEvent()));
    expect(results).toEqual([{ seq: 1, outcome: 'queued' }, { seq: 2, outcome: 'queued' }, { seq: 3, outcome: 'rejected' }]);
    store.markSent([store.pendingBatch(1)[0].id]);
    expect(store.recordEvent(makeEvent())).toEqual({ seq: 4, outcome: 'queued' });
    expect(store.counters()).toEqual({ depth: 2, dropped: 0, rejected: 1 });
    store.close();
  });

  it('rolls a failed write back completely (no seq consumed, no half rows)', () => {
    const store = openStore(freshPath(), roomy, log);
    const e = makeEvent();
    store.recordEvent(e);
    expectCode(() => store.recordEvent(e), 'E_STORE'); // same id twice
    expect(store.recordEvent(makeEvent())).toEqual({ seq: 2, outcome: 'queued' });
    expect(store.depth()).toBe(2);
    store.close();
  });

  it('purges old alerts in chunks, never one still waiting in the outbox', async () => {
    const store = openStore(freshPath(), roomy, log);
    const day = 86_400_000;
    const now = 100 * day;
    for (let i = 0; i < 25; i++) store.recordEvent(makeEvent({ ts: now - 40 * day + i }));
    store.recordEvent(makeEvent({ ts: now - day }));
    const batch = store.pendingBatch(100);
    store.markSent(batch.slice(0, 20).map((b) => b.id));
    expect(await store.purgeOlderThan(30, { now, chunk: 7 })).toBe(20);
    expect(store.recentAlerts({ limit: 100 })).toHaveLength(6);
    store.close();
  });

  it('refuses a file that is not a database with E_STORE_CORRUPT and keeps a copy', () => {
    const path = freshPath();
    openStore(path, roomy, log).close();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(100, 0x41), 0, 100, 0);
    closeSync(fd);
    const err = expectCode(() => openStore(path, roomy, log), 'E_STORE_CORRUPT');
    expect(err.message).toMatch(/integrity check/);
    expect(err.message).toMatch(/a copy was saved to .*linesight\.db\.corrupt-/);
    const copies = readdirSync(join(path, '..')).filter((f) => f.includes('.corrupt-'));
    expect(copies).toHaveLength(1);
  });

  it('refuses a database with damaged pages with E_STORE_CORRUPT', () => {
    const path = freshPath();
    const store = openStore(path, roomy, log);
    for (let i = 0; i < 300; i++) store.recordEvent(makeEvent({ className: `class-${'x'.repeat(200)}-${i}` }));
    store.close();
    expect(existsSync(`${path}-wal`)).toBe(false); // checkpointed on close
    const fd = openSync(path, 'r+');
    for (const page of [3, 6, 9]) writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, page * 4096 + 200);
    closeSync(fd);
    expectCode(() => openStore(path, roomy, log), 'E_STORE_CORRUPT');
  });

  it('refuses a schema newer than this build with E_STORE', () => {
    const path = freshPath();
    openStore(path, roomy, log).close();
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    const err = expectCode(() => openStore(path, roomy, log), 'E_STORE');
    expect(err.message).toMatch(new RegExp(`schema version at most ${migrations.length} .* found 99`));
  });

  it('validates its options with E_ARGUMENT', () => {
    expectCode(() => openStore(freshPath(), { outboxMaxRows: 0, outboxFullPolicy: 'drop_oldest' }, log), 'E_ARGUMENT');
  });

  it('on SQLITE_FULL turns full once, continues seq in memory for unstored alerts, and recovers on the same connection', () => {
    const capture = captureLogger('info');
    const store = openStore(freshPath(), roomy, capture.log);
    const changes: string[] = [];
    store.onHealthChange((h) => changes.push(h.state));
    store.recordEvent(makeEvent({ camera: 'cam1' }));
    const sent = store.pendingBatch(1).map((b) => b.id);
    const db = store.statistics().db;
    // SQLite's own page limit gives the same SQLITE_FULL a full filesystem gives (the tmpfs test has the real one).
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    let failures = 0;
    for (let i = 0; i < 200 && store.health().state === 'ok'; i++) {
      try {
        store.recordEvent(makeEvent({ camera: 'cam1', className: 'x'.repeat(2000) }));
      } catch (err) {
        expect((err as { code: string }).code).toBe('E_STORE');
        failures += 1;
      }
    }
    expect(failures).toBeGreaterThan(0);
    const committed = store.recentAlerts({ limit: 1000 }).length;
    expect(store.health()).toMatchObject({ state: 'full', unstored: 0 });
    expectCode(() => store.recordEvent(makeEvent({ camera: 'cam1', className: 'y'.repeat(2000) })), 'E_STORE');
    expect(store.allocateUnstored('cam1')).toBe(committed + 1);
    expect(store.allocateUnstored('cam1')).toBe(committed + 2);
    expect(store.allocateUnstored('cam2')).toBe(1);
    expect(store.health().unstored).toBe(3);
    expect(capture.at('error').filter((l) => l.msg.startsWith('store full'))).toHaveLength(1);

    db.pragma('max_page_count = 1073741823');
    expect(store.recordEvent(makeEvent({ camera: 'cam1' }))).toEqual({ seq: committed + 3, outcome: 'queued' });
    expect(store.recordEvent(makeEvent({ camera: 'cam2' }))).toEqual({ seq: 2, outcome: 'queued' });
    expect(store.health()).toMatchObject({ state: 'ok', unstored: 3 });
    expect(changes).toEqual(['full', 'ok']);
    expect(capture.at('info').filter((l) => l.msg.startsWith('store writable again'))).toHaveLength(1);
    expect(capture.at('info').find((l) => l.msg.startsWith('store writable again'))).toMatchObject({ was: 'full', unstored: 3 });
    expect(store.markSent(sent)).toBe(1);
    expect(store.integrityCheck()).toEqual(['ok']);
    store.close();
  });

  it('leaves the health alone when a statement is refused for its own sake (a constraint)', () => {
    const store = openStore(freshPath(), roomy, log);
    const e = makeEvent();
    store.recordEvent(e);
    expectCode(() => store.recordEvent(e), 'E_STORE');
    expect(store.health().state).toBe('ok');
    store.close();
  });
});
