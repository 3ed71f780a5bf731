export { benchCommand } from './command.js';
export { BENCH_HELP, defaultOptions, parseBenchArgs, parseDuration, type BenchOptions } from './options.js';
export { runBench } from './run.js';
export { formatBenchTable } from './table.js';
export { computeBound } from './bound.js';
export { BENCH_SCHEMA, type BenchReport, type Bound, type PipelineResult } from './report.js';
