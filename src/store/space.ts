import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/** Reads the bytes an unprivileged process may still write on the filesystem holding `path`; undefined when unknown. */
export type FreeSpaceReader = (path: string) => number | undefined;

export const MIB = 1024 * 1024;

/**
 * Free space of the database's filesystem, as `df` shows it as "Avail"
 * (`bavail`, not `bfree`: the blocks reserved for root are not ours to count on).
 * The folder is read rather than the file, so it works before the file exists.
 */
export const statfsFreeBytes: FreeSpaceReader = (path) => {
  if (path === ':memory:' || path === '') return undefined;
  try {
    const s = statfsSync(dirname(path));
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    // A folder that vanished or a filesystem that refuses statfs: "unknown" is the honest answer.
    return undefined;
  }
};

/** Megabytes with one decimal, for status payloads and log lines. */
export function toMb(bytes: number | undefined): number | null {
  return bytes === undefined ? null : Math.round((bytes / MIB) * 10) / 10;
}

/**
 * What a failed write says about the store:
 * - `full`: the filesystem (or a quota) has no room: SQLITE_FULL, ENOSPC, EDQUOT,
 *   or an SQLITE_IOERR while the filesystem reports (almost) nothing free —
 *   SQLite reports a failed WAL/shm extension as an I/O error of its own kind.
 * - `failing`: the file cannot be written for another reason (I/O error, read-only, locked, damaged).
 * - `undefined`: the statement itself was refused (a constraint, a bug); the disk is fine.
 */
export function writeFailureKind(err: unknown, freeBytes: number | undefined): 'full' | 'failing' | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'full';
  if (code.startsWith('SQLITE_IOERR')) return freeBytes !== undefined && freeBytes < MIB ? 'full' : 'failing';
  if (/^SQLITE_(READONLY|CANTOPEN|CORRUPT|NOTADB|BUSY|LOCKED|PROTOCOL)/.test(code)) return 'failing';
  return undefined;
}
