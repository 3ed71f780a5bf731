/**
 * Power loss in the middle of housekeeping: a child records alerts, marks some
 * sent, truncates the WAL (`wal_checkpoint(TRUNCATE)`) and runs the retention
 * purge with a "now" far enough ahead that every sent alert is due, in a loop;
 * the parent SIGKILLs it at random moments (a third of them right after it
 * announced a checkpoint, a third right after a purge began), 20 rounds in
 * the normal suite, 100 with `npm run chaos`. After each kill the database is
 * reopened the way linesight opens it and must pass its integrity check, keep
 * every accepted alert, and never have purged one that was not sent.
 *
 * SIGKILL stops the process, not the kernel: what the OS had accepted still
 * reaches the disk. It proves SQLite's transaction and checkpoint ordering
 * under an abrupt stop at any instruction; losing the page cache as well needs
 * a VM whose power is cut.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { openStore } from '../../src/store/index.js';
import { sleep } from '../helpers/wait.js';
import { spawnChild, type Child } from './children.js';
import { writeResult } from './results.js';
import { chaosSizes } from './scale.js';

const sizes = chaosSizes();
const dir = mkdtempSync(join(tmpdir(), 'linesight-chaos-checkpoint-'));
const db = join(dir, 'data', 'linesight.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Phase = 'record' | 'acknowledge' | 'checkpoint' | 'purge';
/** Where each round's kill is aimed: anywhere, or just after the child announced this phase. */
const AIMS: Array<Phase | 'anywhere'> = ['anywhere', 'checkpoint', 'purge'];

interface Ledger {
  accepted: Set<string>;
  /** Handed to markSent at some point: the only alerts allowed to leave the outbox. */
  offeredAsSent: Set<string>;
  /** The step each kill interrupted (its PHASE line came, its completion line did not). */
  interrupted: Record<Phase, number>;
  checkpoints: number;
  purged: number;
}

const DONE: Record<Phase, string> = { record: 'PHASE acknowledge', acknowledge: 'PHASE checkpoint', checkpoint: 'CHECKPOINT', purge: 'PURGED' };

/** Kills the child at a random moment, aimed at `aim`. */
async function killAt(child: Child, aim: Phase | 'anywhere'): Promise<void> {
  await child.line('READY');
  if (aim === 'anywhere') {
    await sleep(50 + Math.random() * 400);
  } else {
    // Strike 0–3 ms into the step (the tables are the previous rounds' by then, not empty).
    await new Promise<void>((resolve) => child.onLine((line) => {
      if (line === `PHASE ${aim}`) setTimeout(resolve, Math.random() * 3);
    }));
  }
  await child.kill();
}

function account(child: Child, ledger: Ledger): void {
  let phase: Phase | undefined;
  let done = false;
  for (const line of child.lines) {
    const [tag, rest] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
    if (tag === 'REC') ledger.accepted.add(rest);
    else if (tag === 'SENDING') for (const id of rest.split(',')) ledger.offeredAsSent.add(id);
    else if (tag === 'CHECKPOINT') ledger.checkpoints += 1;
    else if (tag === 'PURGED') ledger.purged += Number(rest);
    if (tag === 'PHASE') [phase, done] = [rest as Phase, false];
    else if (phase && line.startsWith(DONE[phase])) done = true;
  }
  if (phase && !done) ledger.interrupted[phase] += 1;
}

/** Reopens as linesight does (integrity check, migrations), then checks every accepted alert. Returns the problems. */
function verify(ledger: Ledger): string[] {
  const store = openStore(db, { outboxMaxRows: 1_000_000, outboxFullPolicy: 'drop_oldest' }, silentLogger());
  const problems = store.integrityCheck().filter((r) => r !== 'ok');
  store.close();
  const raw = new Database(db, { readonly: true });
  try {
    const status = new Map(raw.prepare<[], { id: string; status: string }>('SELECT id, status FROM alerts').all().map((r) => [r.id, r.status]));
    const queued = new Set(raw.prepare<[], { alert_id: string }>('SELECT alert_id FROM outbox').all().map((r) => r.alert_id));
    for (const id of queued) if (status.get(id) !== 'queued') problems.push(`outbox row ${id} has alert status ${status.get(id) ?? 'none (purged)'}`);
    for (const id of ledger.accepted) {
      if (queued.has(id)) continue;
      if (!ledger.offeredAsSent.has(id)) problems.push(`accepted alert ${id} was never acknowledged but is not in the outbox (alert status ${status.get(id) ?? 'purged'})`);
      else if (status.has(id) && status.get(id) !== 'sent') problems.push(`acknowledged alert ${id} left the outbox with status ${status.get(id)}`);
    }
    const orphans = raw.prepare("SELECT COUNT(*) AS n FROM alerts a WHERE status = 'queued' AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = a.id)").get() as { n: number };
    if (orphans.n > 0) problems.push(`${orphans.n} queued alerts have no outbox row`);
  } finally {
    raw.close();
  }
  return problems;
}

describe('chaos: power loss during a WAL checkpoint and the retention purge', () => {
  it(`keeps every accepted alert and a sound database through ${sizes.killRounds} SIGKILLs`, async () => {
    const ledger: Ledger = {
      accepted: new Set(), offeredAsSent: new Set(), interrupted: { record: 0, acknowledge: 0, checkpoint: 0, purge: 0 }, checkpoints: 0, purged: 0,
    };
    let worstReopenMs = 0;
    const started = performance.now();
    for (let round = 0; round < sizes.killRounds; round++) {
      const child = spawnChild('test/chaos/checkpoint-child.ts', { CHAOS_DB: db });
      await killAt(child, AIMS[round % AIMS.length]);
      account(child, ledger);
      const reopen = performance.now();
      expect(verify(ledger), `after kill ${round + 1}`).toEqual([]);
      worstReopenMs = Math.max(worstReopenMs, performance.now() - reopen);
    }
    const { interrupted } = ledger;
    console.info(`checkpoint kill: ${JSON.stringify({ ...ledger, accepted: ledger.accepted.size, offeredAsSent: ledger.offeredAsSent.size })}`);
    // The kills did land inside the steps this test is about, and the steps did real work.
    expect(interrupted.checkpoint + interrupted.purge).toBeGreaterThanOrEqual(Math.floor(sizes.killRounds / 5));
    expect(ledger.purged).toBeGreaterThan(sizes.killRounds * 50);
    expect(ledger.checkpoints).toBeGreaterThanOrEqual(sizes.killRounds / 2);

    writeResult({
      name: 'power-loss-checkpoint', scale: sizes.scale, fault: 'Power loss (SIGKILL) during WAL checkpoint and retention',
      injection: `${sizes.killRounds} SIGKILLs: ${interrupted.checkpoint} inside a checkpoint, ${interrupted.purge} inside a purge, ` +
        `${interrupted.record + interrupted.acknowledge} while recording or acknowledging`,
      durationMs: Math.round(performance.now() - started), offered: ledger.accepted.size, delivered: ledger.accepted.size, lost: 0, duplicated: null,
      recoveryMs: Math.round(worstReopenMs),
      notes: `delivered = accepted alerts found intact after the kills; ${ledger.checkpoints} checkpoints, ${ledger.purged} sent alerts purged; recovery = slowest reopen + integrity check + audit`,
    });
  }, sizes.killRounds * 4000 + 30_000);
});
