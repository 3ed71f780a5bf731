/** `linesight bench …`: parses the arguments, runs the bench, prints the table, writes the JSON. */
import { createLogger } from '../log.js';
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
  const report = await runBench({
    ...options,
    log: createLogger({ level: 'warn', destination: 2 }),
    onProgress: (message) => process.stderr.write(`bench: ${message}\n`),
  });
  process.stdout.write(`${formatBenchTable(report)}\n`);
  const out = options.out === undefined ? defaultOptions().out : options.out;
  if (out) process.stderr.write(`bench: wrote ${out}\n`);
  return 0;
}
