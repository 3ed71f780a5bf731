/**
 * Prints the markdown table of the last chaos run's results.
 * Run with: node_modules/.bin/vite-node test/chaos/report.ts
 */
import { markdownTable, readResults, resultsDir } from './results.js';

const results = readResults();
if (results.length === 0) {
  process.stderr.write(`no chaos results in ${resultsDir()}\n`);
  process.exit(1);
}
process.stdout.write(`${markdownTable(results)}\n`);
