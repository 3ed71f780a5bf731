import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { LinesightError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { migrations } from './migrations.js';

export type Db = Database.Database;

/**
 * Opens (creating if needed) the SQLite file, checks it, and brings its schema
 * up to date. WAL keeps readers off the writer's back; `synchronous=FULL` makes
 * a commit durable when it returns, which is when an alert counts as accepted.
 */
export function openDatabase(path: string, log: Logger): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Db | undefined;
  let problems: string[];
  try {
    db = new Database(path);
    db.pragma('busy_timeout = 5000');
    // Takes effect only on a new, empty file (before WAL and the first table): there, freed pages can be
    // handed back to the filesystem when the disk runs low. An existing file keeps its mode (converting
    // needs a VACUUM, which wants the file's size free twice over) and reuses freed pages instead.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    problems = integrityProblems(db);
  } catch (err) {
    // A file that is not a database at all fails on the first statement rather than in the check.
    if (!isCorruption(err)) {
      db?.close();
      throw new LinesightError('E_STORE', `Expected to open SQLite database ${path} but failed: ${errorMessage(err)}`, { cause: err });
    }
    problems = [errorMessage(err)];
  }
  if (problems.length > 0) {
    db?.close();
    throw corrupt(path, problems, log);
  }
  db = db as Db;
  db.pragma('synchronous = FULL');
  migrate(db, path, log);
  return db;
}

/** The rows of `PRAGMA integrity_check` other than "ok". */
export function integrityProblems(db: Db): string[] {
  const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
  return rows.map((r) => r.integrity_check).filter((r) => r !== 'ok');
}

function migrate(db: Db, path: string, log: Logger): void {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > migrations.length) {
    db.close();
    throw new LinesightError(
      'E_STORE',
      `Expected a database schema version at most ${migrations.length} in ${path} but found ${from}; it was written by a newer linesight`,
    );
  }
  for (let v = from; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
    log.info({ stage: 'store', path, version: v + 1 }, 'database schema migrated');
  }
}

function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'));
}

/** Keeps a copy of the damaged file (and its WAL) for forensics, then builds the error. */
function corrupt(path: string, problems: string[], log: Logger): LinesightError {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const copy = `${path}.corrupt-${stamp}`;
  let saved: string;
  try {
    copyFileSync(path, copy);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
    saved = `a copy was saved to ${copy}`;
  } catch (err) {
    saved = `copying it to ${copy} failed too (${errorMessage(err)})`;
  }
  const found = problems.slice(0, 3).join('; ') + (problems.length > 3 ? ` (and ${problems.length - 3} more)` : '');
  const message =
    `Expected SQLite database ${path} to pass its integrity check ("ok") but found: ${found}. ` +
    `${saved}. Move the file away to start with an empty store (alerts still in its outbox would be lost).`;
  log.error({ stage: 'store', code: 'E_STORE_CORRUPT', path, copy }, message);
  return new LinesightError('E_STORE_CORRUPT', message, { details: { path, copy, problems } });
}
