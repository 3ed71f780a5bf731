import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LinesightError, errorMessage } from '../errors.js';
import { isoTime } from '../clock.js';
import type { Batch } from './batch.js';

/**
 * `aggregates_{site}_{line}_{start}_{end}_{key12}.ndjson.gz`, times compact UTC.
 * The name carries the key, so re-writing a batch after a crash replaces the
 * same file with the same bytes.
 */
export function batchFileName(meta: { site: string; line: string }, batch: Batch): string {
  const compact = (ts: number) => isoTime(ts).replace(/[-:]/g, '').replace(/\d{2}\.\d{3}Z$/, 'Z');
  return `aggregates_${meta.site}_${meta.line}_${compact(batch.periodStart)}_${compact(batch.periodEnd)}_${batch.key.slice(0, 12)}.ndjson.gz`;
}

/**
 * Writes the batch's bytes (gzip of one JSON document per line) into `dir`
 * atomically: a temporary file, fsync, rename, fsync of the directory. A reader
 * sees the whole file or none of it, and power loss after this returns keeps it.
 */
export function writeBatchFile(dir: string, meta: { site: string; line: string }, batch: Batch): string {
  const path = join(dir, batchFileName(meta, batch));
  const tmp = join(dir, `.${batchFileName(meta, batch)}.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true });
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, batch.body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new LinesightError('E_SYNC',
      `Expected to write batch ${isoTime(batch.periodStart)}–${isoTime(batch.periodEnd)} to ${path} (sync.dir) but failed: ${errorMessage(err)}; the batch stays queued`,
      { cause: err, details: { key: batch.key, path } });
  }
  return path;
}
