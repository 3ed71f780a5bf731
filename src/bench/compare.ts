/**
 * `linesight bench --model A --model B …`: the whole bench for each model in turn,
 * in one process on one machine, then every rate as a ratio to the first model's.
 * A ratio from one run is what carries over to another box; the absolute figures
 * move with the machine's other load (each report keeps its load average).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readOnnxMetadata } from '../infer/onnx-metadata.js';
import { defaultOptions, type BenchOptions } from './options.js';
import type { BenchReport } from './report.js';
import { runBench } from './run.js';
import { round } from './stats.js';
import { formatBenchTable } from './table.js';

export const COMPARE_SCHEMA = 'linesight.bench-compare/1';

export interface RateRatio {
  /** `batch 4` for a session rate, the run's label (`file ×4`) for a pipeline. */
  what: string;
  fps: number;
  /** fps / the first model's fps for the same measurement; null when the first has none. */
  ratio: number | null;
  /**
   * CPU per frame (core-ms): on a shared box the rate moves with what others leave free,
   * the CPU a frame costs much less; `cpuRatio` is the first model's over this one's.
   */
  cpuMsPerFrame: number;
  cpuRatio: number | null;
}

export interface ModelRates {
  path: string;
  name: string;
  /** The model's `precision` metadata (`int8-qdq`), `unstated` when it has none. */
  precision: string;
  session: RateRatio[];
  pipeline: RateRatio[];
}

export interface BenchComparison {
  schema: typeof COMPARE_SCHEMA;
  models: ModelRates[];
  /** Every model's full bench report, in the order they ran. */
  reports: BenchReport[];
}

type Rate = Pick<RateRatio, 'what' | 'fps' | 'cpuMsPerFrame'>;

function ratios(rows: Rate[], base: Rate[]): RateRatio[] {
  return rows.map((r) => {
    const b = base.find((x) => x.what === r.what);
    return {
      ...r,
      ratio: b && b.fps > 0 ? round(r.fps / b.fps, 2) : null,
      cpuRatio: b && r.cpuMsPerFrame > 0 ? round(b.cpuMsPerFrame / r.cpuMsPerFrame, 2) : null,
    };
  });
}

/** The rates of each report beside the first report's. */
export function compareReports(reports: BenchReport[]): ModelRates[] {
  const rates = (r: BenchReport) => ({
    session: r.session.map((s) => ({ what: `batch ${s.batch}`, fps: s.fps, cpuMsPerFrame: s.cpuMsPerFrame })),
    // the pipeline's CPU: all of linesight's and its decoders' core time over the frames inferred
    pipeline: r.pipeline.map((p) => ({ what: p.label, fps: p.fps, cpuMsPerFrame: p.fps > 0 ? round((p.cpuPct * 10) / p.fps, 2) : 0 })),
  });
  const base = rates(reports[0]);
  return reports.map((r) => {
    const own = rates(r);
    return {
      path: r.model.path,
      name: r.model.name,
      precision: readOnnxMetadata(r.model.path).metadata.precision || 'unstated',
      session: ratios(own.session, base.session),
      pipeline: ratios(own.pipeline, base.pipeline),
    };
  });
}

/** Runs the bench for each of `models` with the same options and writes one JSON holding all the reports and the ratios. */
export async function runComparison(input: Partial<BenchOptions>, models: string[]): Promise<BenchComparison> {
  const reports: BenchReport[] = [];
  for (const model of models) {
    input.onProgress?.(`model ${model}`);
    reports.push(await runBench({ ...input, model, models: undefined, out: null }));
  }
  const comparison: BenchComparison = { schema: COMPARE_SCHEMA, models: compareReports(reports), reports };
  const out = input.out === undefined ? defaultOptions().out : input.out;
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(comparison, null, 2) + '\n');
  }
  return comparison;
}

/** Each model's table, then the rates side by side as ratios to the first model. */
export function formatComparison(c: BenchComparison): string {
  const out = c.reports.map((r) => formatBenchTable(r));
  const base = c.models[0];
  const times = (x: number | null) => (x === null ? '' : ` (${x.toFixed(2)} ×)`);
  const fmt = (r: RateRatio) => `${r.fps} fps${times(r.ratio)}, ${r.cpuMsPerFrame} core-ms/frame${times(r.cpuRatio)}`;
  const whats = [...base.session, ...base.pipeline].map((r) => r.what);
  const lines = [`models compared in this run (rate as a ratio to ${basename(base.path)}'s; core-ms/frame as how many times less):`];
  const rows = [
    ['session/pipeline', ...c.models.map((m) => `${basename(m.path)} [${m.precision}]`)],
    ...whats.map((what) => [what, ...c.models.map((m) => {
      const r = [...m.session, ...m.pipeline].find((x) => x.what === what);
      return r ? fmt(r) : '-';
    })]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) lines.push(r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
  return [...out, lines.join('\n')].join('\n\n');
}
