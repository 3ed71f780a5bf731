import { formatReport, groupReport, type GroupBy } from '../context/report.js';
import type { Config } from '../config/schema.js';
import { LinesightError } from '../errors.js';
import { createLogger } from '../log.js';
import { openDatabase } from '../store/db.js';

const GROUPS: readonly GroupBy[] = ['lot', 'order', 'recipe'];

/** `linesight alerts --by lot|order|recipe`: alerts per class and frames inspected per group since `since`. */
export function printAlertsBy(config: Config, by: string, since: number, json: boolean): number {
  if (!GROUPS.includes(by as GroupBy)) throw new LinesightError('E_CLI', `--by: expected one of ${GROUPS.join(', ')}, received ${JSON.stringify(by)}`);
  const db = openDatabase(config.store.path, createLogger({ level: 'warn', destination: 2 }));
  try {
    const rows = groupReport(db, by as GroupBy, since, Date.now());
    const out = json
      ? rows.map((r) => JSON.stringify({ [by]: r.key, frames_inspected: r.framesInspected, alerts: r.alerts, classes: r.classes })).join('\n')
      : formatReport(rows, by as GroupBy);
    process.stdout.write(`${out}\n`);
  } finally {
    db.close();
  }
  return 0;
}
