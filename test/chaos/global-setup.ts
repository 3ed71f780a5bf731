/**
 * For `npm run chaos`: starts from an empty results folder and, once every
 * chaos test has run (passed or not), prints the table of their figures.
 */
import { clearResults, markdownTable, readResults, resultsDir } from './results.js';

export default function setup(): () => void {
  clearResults();
  return () => {
    const results = readResults();
    process.stdout.write(`\nChaos results (${resultsDir()}):\n\n${results.length ? markdownTable(results) : '(none written)'}\n\n`);
  };
}
