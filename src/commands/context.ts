import { parseArgs } from 'node:util';
import { isoTime } from '../clock.js';
import { loadConfig } from '../config/load.js';
import { ContextHistory } from '../context/history.js';
import { parseContext } from '../context/message.js';
import { LinesightError } from '../errors.js';
import { createLogger } from '../log.js';
import { openDatabase } from '../store/db.js';
import { DEFAULT_CONFIG } from './defaults.js';
import { positiveIntValue } from './values.js';

const FIELDS = { order: 'order', lot: 'lot', 'part-id': 'part_id', product: 'product', shift: 'shift', operator: 'operator' } as const;

/**
 * `linesight context set|show`: the line's production context for lines
 * without an MES. `set` writes a change into the line's database (the running
 * line reads it within a second; a line started later loads it); `show` prints
 * the context in force and the recent changes.
 */
export async function cmdContext(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === 'set') return contextSet(rest);
  if (action === 'show') return contextShow(rest);
  throw new LinesightError('E_CLI', `Expected "set" or "show": linesight context set --lot L … | context show, but received ${JSON.stringify(action ?? '')}`);
}

function openHistory(configPath: string) {
  const config = loadConfig(configPath, process.env, { files: false });
  const db = openDatabase(config.store.path, createLogger({ level: 'warn', destination: 2 }));
  return { db, history: new ContextHistory(db) };
}

function contextSet(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      ...Object.fromEntries(Object.keys(FIELDS).map((k) => [k, { type: 'string' as const }])),
      extra: { type: 'string' }, ts: { type: 'string' }, config: { type: 'string', default: DEFAULT_CONFIG },
    },
  });
  const message: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(FIELDS)) {
    const v = (values as Record<string, string | undefined>)[flag];
    if (v !== undefined) message[key] = v;
  }
  if (values.extra !== undefined) {
    try {
      message.extra = JSON.parse(values.extra);
    } catch {
      throw new LinesightError('E_CLI', `--extra: expected a JSON object such as '{"line_speed": 3}', received ${JSON.stringify(values.extra)}`);
    }
  }
  if (Object.keys(message).length === 0) {
    throw new LinesightError('E_CLI', `Expected at least one of --${Object.keys(FIELDS).join(', --')}, --extra; see linesight context --help`);
  }
  message.ts = values.ts ?? new Date().toISOString();
  const parsed = parseContext(JSON.stringify(message));
  if (!parsed.ok) throw new LinesightError('E_CONTEXT', `The context is not valid: ${parsed.fault}`);
  const { db, history } = openHistory(values.config as string);
  try {
    const added = history.record(parsed.context, parsed.ts, Date.now(), 'cli');
    process.stdout.write(`${added ? 'context set' : 'context unchanged (the same change is already recorded)'}: ${JSON.stringify(parsed.context)}\n`);
  } finally {
    db.close();
  }
  return 0;
}

function contextShow(args: string[]): number {
  const { values } = parseArgs({ args, options: { history: { type: 'string', default: '10' }, json: { type: 'boolean', default: false }, config: { type: 'string', default: DEFAULT_CONFIG } } });
  const limit = positiveIntValue(values.history, '--history');
  const { db, history } = openHistory(values.config);
  try {
    const rows = history.latest(limit);
    const now = Date.now();
    const current = [...rows].reverse().find((r) => r.ts <= now);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ current: current?.context ?? null, changes: rows.map((r) => ({ ...r.context, source: r.source, received_at: isoTime(r.receivedAt) })) })}\n`);
      return 0;
    }
    process.stdout.write(current ? `in force: ${JSON.stringify(current.context)}\n` : 'in force: none (no context was ever set)\n');
    for (const r of rows) process.stdout.write(`${r.context.ts}  ${r.source.padEnd(4)}  ${JSON.stringify(r.context)}\n`);
  } finally {
    db.close();
  }
  return 0;
}
