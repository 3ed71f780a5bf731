/** `linesight bench …`: parses the arguments, runs the bench, prints the table, writes the JSON. */
import { createLogger } from '../log.js';
import { formatComparison, runComparison } from './compare.js';
import { BENCH_HELP, defaultOptions, parseBenchArgs } from './options.js';
import { runBench } from './run.js';
import { formatBenchTable } from './table.js';

/** Entry point for the CLI router; returns the exit status. Throws LinesightError (E_CLI…) on bad arguments. */
export async function benchCommand(argv: string[]): Promise<number> {
  const options = parseBenchArgs(argv);
  if (options === null) {
    process.stdout.write(`${BENCH_HELP}\n`);
    return 0;
  }
  const run = {
    ...options,
    log: createLogger({ level: 'warn', destination: 2 }),
    onProgress: (message: string) => process.stderr.write(`bench: ${message}\n`),
  };
  if (options.models !== undefined) {
    process.stdout.write(`${formatComparison(await runComparison(run, options.models))}\n`);
  } else {
    process.stdout.write(`${formatBenchTable(await runBench(run))}\n`);
  }
  const out = options.out === undefined ? defaultOptions().out : options.out;
  if (out) process.stderr.write(`bench: wrote ${out}\n`);
  return 0;
}
