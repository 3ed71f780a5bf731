import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { applyEnvOverrides, loadConfig, parseConfigText, validateConfig, type ConfigProblem } from '../config/load.js';
import { errorMessage, isLinesightError, LinesightError } from '../errors.js';
import { redactUrl } from '../config/url.js';

function printProblems(file: string, problems: readonly ConfigProblem[]): number {
  process.stderr.write(`${file}: ${problems.length} problem(s) (E_CONFIG)\n`);
  for (const p of problems) process.stderr.write(`  ${p.path}: ${p.message}\n`);
  return 1;
}

/** `linesight check-config FILE`: every problem with its key path (exit 1), or a one-line summary (exit 0). Asks what `run` asks. */
export async function cmdCheckConfig(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const file = positionals[0];
  if (!file) throw new LinesightError('E_CLI', 'Expected a configuration file: linesight check-config FILE');
  let raw: Record<string, unknown>;
  try {
    raw = applyEnvOverrides(parseConfigText(readFileSync(file, 'utf8'), file), process.env);
  } catch (err) {
    if (isLinesightError(err)) throw err;
    throw new LinesightError('E_CONFIG_READ', `${file}: expected a readable configuration file, ${errorMessage(err)}`);
  }
  const result = validateConfig(raw);
  if (result.problems.length > 0) return printProblems(file, result.problems);
  let cfg;
  try {
    cfg = loadConfig(file); // the files it names, resolved against the file's folder
  } catch (err) {
    const problems = isLinesightError(err, 'E_CONFIG') ? (err.details?.problems as ConfigProblem[] | undefined) : undefined;
    if (problems) return printProblems(file, problems);
    throw err;
  }
  const enabled = cfg.cameras.filter((c) => c.enabled).length;
  process.stdout.write(`${file}: valid — site ${cfg.site}, line ${cfg.line}, ${enabled} of ${cfg.cameras.length} camera(s) enabled, model ${cfg.model.path}, mqtt ${cfg.mqtt.url === undefined ? `embedded :${cfg.mqtt.embedded_port}` : redactUrl(cfg.mqtt.url)}\n`);
  return 0;
}
