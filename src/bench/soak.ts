/** Turns soak samples into growth figures: the last tenth of the run against the first. */
import { median, round } from './stats.js';
import type { PipelineResult, SoakResult, SoakSample } from './report.js';

function growth(samples: readonly SoakSample[], pick: (s: SoakSample) => number): number {
  // The first tenth (at least one sample) after the first sample, which still carries start-up allocation.
  const body = samples.length > 2 ? samples.slice(1) : samples;
  const tenth = Math.max(1, Math.floor(body.length / 10));
  const first = median(body.slice(0, tenth).map(pick));
  const last = median(body.slice(-tenth).map(pick));
  return first > 0 ? round(((last - first) / first) * 100) : 0;
}

function p99Median(samples: readonly SoakSample[]): number | null {
  const values = samples.map((s) => s.inferLatencyP99).filter((v): v is number => v !== null);
  return values.length > 0 ? round(median(values)) : null;
}

export function soakSummary(run: PipelineResult, samples: SoakSample[], intervalS: number): SoakResult {
  const tenth = Math.max(1, Math.floor(samples.length / 10));
  return {
    durationS: run.seconds,
    cameras: run.cameras,
    source: run.source,
    cameraFps: run.cameraFps,
    intervalS,
    samples,
    rssGrowthPct: growth(samples, (s) => s.selfRssMb),
    totalRssGrowthPct: growth(samples, (s) => s.selfRssMb + s.childrenRssMb),
    heapGrowthPct: growth(samples, (s) => s.heapUsedMb),
    inferLatencyP99First: p99Median(samples.slice(0, tenth)),
    inferLatencyP99Last: p99Median(samples.slice(-tenth)),
  };
}
