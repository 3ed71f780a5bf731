import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { LinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DefectEvent } from '../types.js';
import { openDatabase, type Db } from '../store/db.js';

/** A model on the box, as `models list` shows it. */
export interface ModelEntry {
  hash: string;
  name: string;
  version: string;
  classes: string[];
  inputWidth: number;
  inputHeight: number;
  /** The file the line loads: the stored copy, or the configured file for a model never added. */
  file: string;
  source: string;
  addedAt: number;
  lastUsed: number | null;
}

export type ModelRole = 'active' | 'previous' | 'candidate' | 'config_path';

export interface ModelChange {
  action: 'activate' | 'rollback' | 'shadow' | 'shadow_stop';
  hash: string | null;
  previous: string | null;
  outcome: 'done' | 'refused';
  requestedBy?: string;
  message?: string;
}

interface ModelRow {
  hash: string; name: string; version: string; classes: string; input_width: number; input_height: number;
  file: string; source: string; added_at: number; last_used: number | null;
}

const entryOf = (r: ModelRow): ModelEntry => ({
  hash: r.hash, name: r.name, version: r.version, classes: JSON.parse(r.classes) as string[], inputWidth: r.input_width, inputHeight: r.input_height,
  file: r.file, source: r.source, addedAt: r.added_at, lastUsed: r.last_used,
});

/** sha256 of a file, hex, read as a stream (a model of a few hundred MB does not stall the line). */
export function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).once('error', reject).once('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * The models table and which model holds which role, on the line's SQLite
 * file (migration 7). Every method is synchronous and durable when it returns.
 */
export class ModelRegistry {
  constructor(private readonly db: Db) {}

  get(hash: string): ModelEntry | undefined {
    const row = this.db.prepare<[string], ModelRow>('SELECT * FROM models WHERE hash = ?').get(hash);
    return row && entryOf(row);
  }

  list(): ModelEntry[] {
    return this.db.prepare<[], ModelRow>('SELECT * FROM models ORDER BY added_at, hash').all().map(entryOf);
  }

  /** Records a model (a second add of the same content keeps the first record and its file). Returns the record. */
  put(entry: Omit<ModelEntry, 'lastUsed'>): ModelEntry {
    this.db.prepare(`INSERT INTO models (hash, name, version, classes, input_width, input_height, file, source, added_at)
      VALUES (@hash, @name, @version, @classes, @inputWidth, @inputHeight, @file, @source, @addedAt) ON CONFLICT (hash) DO NOTHING`)
      .run({ ...entry, classes: JSON.stringify(entry.classes) });
    return this.get(entry.hash) as ModelEntry;
  }

  /**
   * The model `ref` names: its full sha256, a unique prefix of it (8 hex digits
   * or more), or its version (the newest added of that version). E_MODEL_REF
   * when nothing or more than one model matches.
   */
  resolve(ref: string): ModelEntry {
    const all = this.list();
    const byHash = all.filter((m) => /^[0-9a-f]{8,64}$/i.test(ref) && m.hash.startsWith(ref.toLowerCase()));
    if (byHash.length === 1) return byHash[0];
    if (byHash.length > 1) {
      throw new LinesightError('E_MODEL_REF', `Expected "${ref}" to name one model but it is the start of ${byHash.length} hashes; give more digits`);
    }
    const byVersion = all.filter((m) => m.version === ref);
    if (byVersion.length > 0) return byVersion.reduce((a, b) => (b.addedAt >= a.addedAt ? b : a));
    const known = all.map((m) => `${m.version} (${m.hash.slice(0, 12)})`).join(', ') || 'none';
    throw new LinesightError('E_MODEL_REF', `Expected a model version or hash known on this box but "${ref}" is neither; the models here: ${known} (add one with linesight models add FILE)`);
  }

  role(role: ModelRole): string | undefined {
    return this.db.prepare<[string], { value: string }>('SELECT value FROM model_state WHERE role = ?').get(role)?.value;
  }

  setRole(role: ModelRole, value: string | null): void {
    if (value === null) this.db.prepare('DELETE FROM model_state WHERE role = ?').run(role);
    else this.db.prepare('INSERT INTO model_state (role, value) VALUES (?, ?) ON CONFLICT (role) DO UPDATE SET value = excluded.value').run(role, value);
  }

  /** The line now runs `hash` (in place of `previous`, with `configPath` as model.path): one transaction. */
  activated(hash: string, previous: string | null, configPath: string): void {
    this.db.transaction(() => {
      this.setRole('active', hash);
      this.setRole('previous', previous);
      this.setRole('config_path', configPath);
    })();
  }

  touch(hash: string, now: number): void {
    this.db.prepare('UPDATE models SET last_used = ? WHERE hash = ?').run(now, hash);
  }

  logChange(change: ModelChange, now: number): void {
    this.db.prepare('INSERT INTO model_changes (ts, action, hash, previous, outcome, requested_by, message) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(now, change.action, change.hash, change.previous, change.outcome, change.requestedBy ?? null, change.message ?? null);
  }

  /** A defect a candidate confirmed in a shadow run. */
  shadowEvent(event: DefectEvent, modelHash: string, activeHash: string): void {
    this.db.prepare(`INSERT OR IGNORE INTO shadow_events (id, camera, class_name, confidence, box_x, box_y, box_w, box_h, ts, model_hash, active_hash)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(event.id, event.camera, event.className, event.confidence, event.box.x, event.box.y, event.box.w, event.box.h, event.ts, modelHash, activeHash);
  }

  /** The counts of one camera's shadow run so far (one row per run and active model, moved forward). */
  shadowRun(r: { modelHash: string; activeHash: string; camera: string; startedAt: number; endedAt: number; frames: number; skipped: number }): void {
    this.db.prepare(`INSERT INTO shadow_runs (model_hash, active_hash, camera, started_at, ended_at, frames, skipped) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model_hash, active_hash, camera, started_at) DO UPDATE SET ended_at = excluded.ended_at, frames = excluded.frames, skipped = excluded.skipped`)
      .run(r.modelHash, r.activeHash, r.camera, r.startedAt, r.endedAt, r.frames, r.skipped);
  }

  /** The database, for the comparison's reads (compare-store.ts). */
  get database(): Db {
    return this.db;
  }

  changes(limit = 20): Array<ModelChange & { ts: number }> {
    return this.db.prepare<[number], { ts: number; action: ModelChange['action']; hash: string | null; previous: string | null; outcome: ModelChange['outcome']; requested_by: string | null; message: string | null }>(
      'SELECT * FROM model_changes ORDER BY id DESC LIMIT ?').all(limit)
      .map((r) => ({ ts: r.ts, action: r.action, hash: r.hash, previous: r.previous, outcome: r.outcome, ...(r.requested_by ? { requestedBy: r.requested_by } : {}), ...(r.message ? { message: r.message } : {}) }));
  }
}

/**
 * A connection of the running line to its registry, beside the store's own
 * (WAL lets both write; the store has migrated the file already). An
 * in-memory store gets an in-memory registry of its own: nothing persists.
 */
export function openRegistry(dbPath: string, log: Logger): { registry: ModelRegistry; close(): void } {
  const db = dbPath === ':memory:' ? openDatabase(dbPath, log) : new Database(dbPath, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = FULL');
  return { registry: new ModelRegistry(db), close: () => db.close() };
}

/**
 * The model file a starting line loads: the one last activated on this box
 * (promote, rollback) while `configPath` is still the model.path it replaced,
 * else `configPath` itself (plant IT changed the configuration since: it wins).
 * Read without migrating: a database without the models tables has no such state.
 */
export function startModelPath(dbPath: string, configPath: string): { path: string; hash?: string } {
  if (dbPath === ':memory:' || !existsSync(dbPath)) return { path: configPath };
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const hasTables = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'model_state'").get() !== undefined;
    if (!hasTables) return { path: configPath };
    const registry = new ModelRegistry(db);
    const active = registry.role('active');
    if (!active || registry.role('config_path') !== configPath) return { path: configPath };
    const entry = registry.get(active);
    return entry && existsSync(entry.file) ? { path: entry.file, hash: entry.hash } : { path: configPath };
  } finally {
    db.close();
  }
}
