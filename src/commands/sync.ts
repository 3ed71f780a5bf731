import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { LinesightError } from '../errors.js';
import { createLogger } from '../log.js';
import { openStore } from '../store/index.js';
import { createSync, formatSyncResult } from '../sync/index.js';
import { lineBatchExtras } from '../sync/line-extras.js';
import { VERSION } from '../version.js';
import { DEFAULT_CONFIG } from './defaults.js';

/** `linesight sync --now`: one upload run with its retries; exit 1 when it failed. */
export async function cmdSync(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { now: { type: 'boolean', default: false }, config: { type: 'string', default: DEFAULT_CONFIG } } });
  if (!values.now) throw new LinesightError('E_CLI', 'Expected --now: linesight sync --now (the schedule runs inside linesight run)');
  const config = loadConfig(values.config, process.env, { files: false });
  const log = createLogger({ level: config.log.level, destination: 2 });
  const store = openStore(config.store.path, { outboxMaxRows: config.store.outbox_max_rows, outboxFullPolicy: config.store.outbox_full_policy }, log);
  const stats = store.statistics();
  const sync = createSync({
    config: config.sync, site: config.site, line: config.line, store: stats, log, retentionDays: config.store.retention_days, version: VERSION,
    extras: lineBatchExtras(stats.db), // the same batch the running line would build
  });
  try {
    const result = await sync.runOnce();
    process.stdout.write(`${formatSyncResult(result, sync.status().destination)}\n`);
    return result.ok ? 0 : 1;
  } finally {
    await sync.stop();
    store.close();
  }
}
