import { copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { errorMessage, LinesightError } from '../errors.js';
import { createLogger } from '../log.js';
import { compareFromStore, formatComparisons } from '../models/compare-store.js';
import { detectorOptions, loadChecked } from '../models/load.js';
import { hashFile, ModelRegistry, type ModelEntry } from '../models/registry.js';
import { openDatabase } from '../store/db.js';
import { parseSince } from './alerts-format.js';
import { DEFAULT_CONFIG } from './defaults.js';

/** Longest wait for the running line's answer: a promote loads the model first (a TensorRT build takes minutes). */
const ANSWER_TIMEOUT_MS = 30 * 60_000;

export const MODELS_HELP = `Usage: linesight models <add FILE | list | promote MODEL | rollback | shadow MODEL | shadow --stop | compare> [--config FILE]

  add FILE         check a model (inputs, outputs, layout, a test inference) and keep a copy
                   by its sha256 in model.store_dir (default: models/ next to the database)
  list [--json]    the models on this box: which is active, previous, candidate, when used
  promote MODEL    the running line loads MODEL (a version, a sha256 or its first 8+ digits,
                   or an .onnx file), checks it, and swaps it in between two batches
  rollback         the running line goes back to the model active before the last swap
  shadow MODEL     the running line runs MODEL beside the active one on a share of the
                   frames (model.shadow), never alerting; --stop ends the shadow run
  compare [--since 24h] [--json]
                   defects found by both / only the active / only the candidate model,
                   per camera and class, and precision/recall against operator verdicts

promote, rollback and shadow talk to the running line on its overlay port with
overlay.operator_token (else overlay.token); promote --offline records MODEL for the
next start when the line is stopped. Exit 1 on a refusal; the running model stays.`;

function openRegistry(config: Config): { registry: ModelRegistry; close(): void } {
  const db = openDatabase(config.store.path, createLogger({ level: 'warn', destination: 2 }));
  return { registry: new ModelRegistry(db), close: () => db.close() };
}

const storeDirOf = (config: Config) => config.model.store_dir ?? join(dirname(config.store.path), 'models');
const when = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

/** `linesight models …`: the models on the box and the running line's model changes (docs/models.md). */
export async function cmdModels(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest, allowPositionals: true,
    options: {
      config: { type: 'string', default: DEFAULT_CONFIG }, json: { type: 'boolean', default: false }, since: { type: 'string', default: '24h' },
      stop: { type: 'boolean', default: false }, offline: { type: 'boolean', default: false },
    },
  });
  const config = loadConfig(values.config, process.env, { files: false });
  const one = (what: string) => {
    if (positionals.length !== 1) throw new LinesightError('E_CLI', `Expected one ${what}: linesight models ${sub} ${what.toUpperCase()}, but received ${positionals.length} argument(s)`);
    return positionals[0];
  };
  switch (sub) {
    case 'add': return add(config, one('file'), values.json);
    case 'list': return list(config, values.json);
    case 'compare': return compare(config, values.since, values.json);
    case 'promote': return values.offline ? promoteOffline(config, one('model')) : ask(config, 'activate', { model: one('model'), requested_by: 'cli' });
    case 'rollback': return ask(config, 'rollback', { requested_by: 'cli' });
    case 'shadow': return ask(config, 'shadow', values.stop ? { stop: true, requested_by: 'cli' } : { model: one('model'), requested_by: 'cli' });
    default: throw new LinesightError('E_CLI', `Expected a models command (add, list, promote, rollback, shadow, compare) but received ${JSON.stringify(sub ?? null)}; see linesight models --help`);
  }
}

async function add(config: Config, file: string, json: boolean): Promise<number> {
  const path = resolve(file);
  const log = createLogger({ level: 'warn', destination: 2 });
  // What inspect-model checks, plus a test batch, with the line's providers and thresholds.
  const detector = await loadChecked(detectorOptions(config.model, path, { sessions: 1 }), Math.min(config.model.batch_max, 4), log);
  const info = detector.info;
  await detector.close();
  const hash = await hashFile(path);
  const { registry, close } = openRegistry(config);
  try {
    let entry = registry.get(hash);
    if (!entry) {
      // By content hash, under the file's own name: the name alerts carry is the file name.
      const target = join(storeDirOf(config), hash, basename(path));
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(path, `${target}.part`);
      renameSync(`${target}.part`, target);
      entry = registry.put({ hash, name: info.name, version: info.version, classes: info.classNames, inputWidth: info.inputWidth, inputHeight: info.inputHeight, file: target, source: path, addedAt: Date.now() });
    }
    const active = registry.role('active');
    const running = active ? registry.get(active) : undefined;
    if (json) {
      process.stdout.write(`${JSON.stringify({ ...entry, provider: info.provider }, null, 2)}\n`);
      return 0;
    }
    process.stdout.write(`added ${entry.name} version ${entry.version} (${entry.hash.slice(0, 12)}), ${entry.inputWidth}×${entry.inputHeight}, classes ${entry.classes.join(', ')}, test inference on ${info.provider} passed\n  stored as ${entry.file}\n`);
    if (running && (running.inputWidth !== entry.inputWidth || running.inputHeight !== entry.inputHeight)) {
      process.stdout.write(`  note: the active model takes ${running.inputWidth}×${running.inputHeight}: a promote will be refused; change model.path and restart to change the input size\n`);
    }
    return 0;
  } finally {
    close();
  }
}

function list(config: Config, json: boolean): number {
  const { registry, close } = openRegistry(config);
  try {
    const roles = { active: registry.role('active'), previous: registry.role('previous'), candidate: registry.role('candidate') };
    const rows = registry.list().map((m: ModelEntry) => ({
      ...m, role: m.hash === roles.active ? 'active' : m.hash === roles.candidate ? 'candidate' : m.hash === roles.previous ? 'previous' : '',
    }));
    if (json) {
      process.stdout.write(`${JSON.stringify({ models: rows, changes: registry.changes(10) }, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write('no models on this box yet (linesight models add FILE; the running model is listed once the line has run)\n');
      return 0;
    }
    const lines = [`${'role'.padEnd(10)} ${'version'.padEnd(14)} ${'name'.padEnd(24)} ${'sha256'.padEnd(12)} ${'input'.padEnd(9)} ${'added'.padEnd(20)} ${'last used'.padEnd(20)}`];
    for (const r of rows) {
      lines.push(`${r.role.padEnd(10)} ${r.version.padEnd(14)} ${r.name.padEnd(24)} ${r.hash.slice(0, 12)} ${`${r.inputWidth}×${r.inputHeight}`.padEnd(9)} ${when(r.addedAt).padEnd(20)} ${when(r.lastUsed).padEnd(20)}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    close();
  }
}

function compare(config: Config, sinceText: string, json: boolean): number {
  const since = parseSince(sinceText);
  const { registry, close } = openRegistry(config);
  try {
    const comparisons = compareFromStore(registry, since);
    process.stdout.write(json ? `${JSON.stringify({ since, comparisons }, null, 2)}\n` : `${formatComparisons(comparisons)}\n`);
    return 0;
  } finally {
    close();
  }
}

/** The line is stopped: MODEL becomes the one its next start loads (while model.path stays as it is now). */
function promoteOffline(config: Config, ref: string): number {
  const { registry, close } = openRegistry(config);
  try {
    const entry = registry.resolve(ref);
    const active = registry.role('active') ?? null;
    registry.activated(entry.hash, active === entry.hash ? registry.role('previous') ?? null : active, config.model.path);
    registry.logChange({ action: 'activate', hash: entry.hash, previous: active, outcome: 'done', requestedBy: 'cli --offline', message: 'for the next start' }, Date.now());
    process.stdout.write(`${entry.name} ${entry.version} (${entry.hash.slice(0, 12)}) will be loaded at the next start (while model.path stays ${config.model.path})\n`);
    return 0;
  } finally {
    close();
  }
}

/** POST /api/models/{action} on the running line's overlay, with the operator token. */
async function ask(config: Config, action: 'activate' | 'rollback' | 'shadow', body: Record<string, unknown>): Promise<number> {
  const { host, port } = config.overlay;
  const token = config.overlay.operator_token ?? config.overlay.token;
  const target = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${target}:${port}/api/models/${action}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
      headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    });
  } catch (err) {
    throw new LinesightError('E_CLI', `Expected the running line to answer on ${url} but ${errorMessage(err)}; is linesight running with this config? (promote --offline records a model for the next start)`, { cause: err });
  }
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown> & { message?: string; active?: { name: string; version: string; hash: string }; previous?: { version: string }; swapped?: boolean; loadMs?: number; candidate?: { version: string } | null };
  if (res.status !== 200) {
    process.stderr.write(`linesight: the line refused (${res.status} ${String(answer.error ?? '')}): ${answer.message ?? res.statusText}\n`);
    return 1;
  }
  if (action === 'shadow') {
    process.stdout.write(answer.candidate ? `shadow run of ${answer.candidate.version} started (it never alerts; see linesight models compare)\n` : 'shadow run stopped\n');
  } else if (answer.swapped === false) {
    process.stdout.write(`${answer.active?.version} is already the active model; nothing changed\n`);
  } else {
    process.stdout.write(`${answer.active?.name} ${answer.active?.version} (${answer.active?.hash.slice(0, 12)}) active, was ${answer.previous?.version}; loaded and checked in ${Math.round(answer.loadMs ?? 0)} ms\n`);
  }
  return 0;
}
