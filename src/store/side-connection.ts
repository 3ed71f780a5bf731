import Database from 'better-sqlite3';
import { LinesightError, errorMessage } from '../errors.js';
import type { Db } from './db.js';
import { migrations } from './migrations.js';

/**
 * A second connection to a database the line's store has already opened (and
 * migrated): for parts that keep their own tables (the production context,
 * recipes) without reaching into the store. WAL lets it read beside the
 * store's connection; a write waits for the other writer up to the busy
 * timeout. No integrity check: the store did it when it opened the file.
 */
export function openSideConnection(path: string, minVersion = migrations.length): Db {
  let db: Db;
  try {
    db = new Database(path, { fileMustExist: true });
  } catch (err) {
    throw new LinesightError('E_STORE', `Expected the SQLite database ${path} to exist but could not open it: ${errorMessage(err)}`, { cause: err });
  }
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = FULL');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version < minVersion) {
    db.close();
    throw new LinesightError('E_STORE', `Expected a database schema version of at least ${minVersion} in ${path} but found ${version}; open it with the store first`);
  }
  return db;
}
