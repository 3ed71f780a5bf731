/**
 * Child process for the power-loss test: the real Store doing what a box does
 * all day, in a tight loop, until the parent SIGKILLs it — record old alerts,
 * acknowledge two in three of the oldest queued ones, `PRAGMA
 * wal_checkpoint(TRUNCATE)` from a second connection (as an operator's backup
 * tool or a restart would), and the retention purge with a "now" 60 days
 * ahead, so every sent alert is due and there is a lot to delete, while new
 * alerts keep being recorded between the purge's chunks.
 *
 * stdout, one line each, written only after the call returned:
 * `READY <pid>`, `PHASE <name>` before each step, `REC <id>` per accepted
 * alert, `SENDING <id,id,…>` before and `SENT <n>` after an acknowledgement,
 * `CHECKPOINT <WAL bytes before> <busy>`, `PURGED <n>`.
 *
 * Env: CHAOS_DB.
 */
import { statSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import { silentLogger } from '../../src/log.js';
import { openStore } from '../../src/store/index.js';
import { makeEvent } from '../helpers/events.js';

const say = (line: string) => writeSync(1, `${line}\n`);
const DAY_MS = 86_400_000;
const RETENTION_DAYS = 7;
const model = { name: 'chaos', version: '1' };
const cameras = ['cam1', 'cam2', 'cam3'];

const path = process.env.CHAOS_DB as string;
const store = openStore(path, { outboxMaxRows: 1_000_000, outboxFullPolicy: 'drop_oldest' }, silentLogger());
const checkpointer = new Database(path);
checkpointer.pragma('busy_timeout = 5000');
let n = 0;

function record(): void {
  // Captured 20–40 days ago: old enough for the retention purge once sent.
  const ts = Date.now() - (20 + Math.random() * 20) * DAY_MS;
  const event = makeEvent({ camera: cameras[n++ % cameras.length], ts });
  store.recordEvent(event, model);
  say(`REC ${event.id}`);
}

function acknowledge(): void {
  const items = store.pendingBatch(150).filter((_, i) => i % 3 !== 0);
  if (items.length === 0) return;
  say(`SENDING ${items.map((item) => item.event.id).join(',')}`);
  say(`SENT ${store.markSent(items.map((item) => item.id))}`);
}

function checkpoint(): void {
  // TRUNCATE reports 0 frames once it has emptied the WAL, so its size beforehand says how much was copied.
  const before = statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  const [row] = checkpointer.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
  say(`CHECKPOINT ${before} ${row.busy}`);
}

/** The purge yields between chunks; the line goes on recording meanwhile, as it does in production. */
async function purge(): Promise<void> {
  const recorder = setInterval(record, 1);
  try {
    say(`PURGED ${await store.purgeOlderThan(RETENTION_DAYS, { now: Date.now() + 60 * DAY_MS, chunk: 25 })}`);
  } finally {
    clearInterval(recorder);
  }
}

say(`READY ${process.pid}`);
for (;;) {
  say('PHASE record');
  for (let i = 0; i < 120; i++) record();
  say('PHASE acknowledge');
  acknowledge();
  say('PHASE checkpoint');
  checkpoint();
  say('PHASE purge');
  await purge();
}
