import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { openStore } from '../store/index.js';
import { printAlertsBy } from './alerts-by.js';
import { formatAlerts, parseSince } from './alerts-format.js';
import { DEFAULT_CONFIG } from './defaults.js';
import { positiveIntValue } from './values.js';

/** `linesight alerts`: the stored alerts since a time, oldest first, with whether each was sent. */
export async function cmdAlerts(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { since: { type: 'string', default: '24h' }, limit: { type: 'string', default: '10000' }, json: { type: 'boolean', default: false }, by: { type: 'string' }, config: { type: 'string', default: DEFAULT_CONFIG } },
  });
  const since = parseSince(values.since);
  const limit = positiveIntValue(values.limit, '--limit');
  const config = loadConfig(values.config, process.env, { files: false });
  if (values.by !== undefined) return printAlertsBy(config, values.by, since, values.json);
  const store = openStore(config.store.path, { outboxMaxRows: config.store.outbox_max_rows, outboxFullPolicy: config.store.outbox_full_policy }, createLogger({ level: 'warn', destination: 2 }));
  try {
    process.stdout.write(`${formatAlerts(store.recentAlerts({ since, limit }), { since, json: values.json })}\n`);
  } finally {
    store.close();
  }
  return 0;
}
