import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { LinesightError } from '../errors.js';
import { createLogger } from '../log.js';
import { RecipeChanges } from '../recipes/changes.js';
import { openDatabase } from '../store/db.js';
import { DEFAULT_CONFIG } from './defaults.js';
import { positiveIntValue } from './values.js';

/**
 * `linesight recipe set NAME | show`: selects the line's recipe without an
 * MES. `set` writes the request into the line's database and waits (at most
 * `--wait` seconds) for the running line to apply or refuse it; a line started
 * later applies it at its start.
 */
export async function cmdRecipe(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { by: { type: 'string', default: 'cli' }, wait: { type: 'string', default: '10' }, config: { type: 'string', default: DEFAULT_CONFIG } },
  });
  const [action, name] = positionals;
  const config = loadConfig(values.config, process.env, { files: false });
  const names = Object.keys(config.recipes);
  if (action === 'show') {
    const db = openDatabase(config.store.path, createLogger({ level: 'warn', destination: 2 }));
    try {
      const active = new RecipeChanges(db).active();
      process.stdout.write(active ? `active: ${active.recipe} (since ${new Date(active.decidedAt ?? active.receivedAt).toISOString()}, by ${active.requestedBy ?? 'unknown'})\n` : 'active: none\n');
      process.stdout.write(`configured: ${names.join(', ') || 'none'}\n`);
    } finally {
      db.close();
    }
    return 0;
  }
  if (action !== 'set' || !name || positionals.length !== 2) {
    throw new LinesightError('E_CLI', `Expected linesight recipe set NAME | recipe show, but received ${JSON.stringify(positionals.join(' '))}`);
  }
  if (!config.recipes[name]) throw new LinesightError('E_RECIPE', `Expected one of the configured recipes (${names.join(', ') || 'none configured'}) but received ${JSON.stringify(name)}`);
  const waitMs = positiveIntValue(values.wait, '--wait') * 1000;
  const db = openDatabase(config.store.path, createLogger({ level: 'warn', destination: 2 }));
  try {
    const changes = new RecipeChanges(db);
    const request = JSON.stringify({ recipe: name, requested_by: values.by, ts: new Date().toISOString() });
    const id = changes.add({ receivedAt: Date.now(), source: 'cli', recipe: name, requestedBy: values.by, request });
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      const row = changes.get(id);
      if (row?.outcome === 'applied') {
        process.stdout.write(`recipe ${name} active\n`);
        return 0;
      }
      if (row?.outcome === 'refused') {
        process.stderr.write(`linesight: the line refused recipe ${name}: ${row.reason ?? ''}\n`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    process.stdout.write(`recipe ${name} requested; no running line applied it within ${waitMs / 1000} s (a line started later applies it at its start)\n`);
    return 0;
  } finally {
    db.close();
  }
}
