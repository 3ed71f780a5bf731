/** linesight's performance targets (BENCHMARKS.md), checked against one report. Benchmarks inform; tests never assert these. */
import { round } from './stats.js';
import type { BenchReport, PipelineResult, TargetCheck } from './report.js';

const fmt = (v: number | null | undefined, unit = '') => (v === null || v === undefined ? 'n/a' : `${round(v)}${unit}`);

function latencyCheck(name: string, run: PipelineResult | null | undefined, factor: number, budget: number): TargetCheck {
  const limit = round(factor * budget);
  const target = `p99 capture→PUBACK ≤ ${factor} × ${budget} ms = ${limit} ms`;
  if (!run) return { name, target, measured: 'not run', met: null };
  const p = run.pubackLatencyMs;
  const drops = run.dropped.superseded + run.dropped.bad_frame + run.dropped.inference_error;
  const tail = `(${p.n} alerts; capture→inferred p99 ${fmt(run.inferLatencyMs.p99, ' ms')}, of which the call alone p99 ${fmt(run.callMs.p99, ' ms')}; ${drops} frames dropped)`;
  // A frame's latency is at least its own call: when the call alone is over the limit, no scheduling meets the target on this box.
  const verdict = run.callMs.p99 !== null && run.callMs.p99 > limit ? '; the call alone is over the limit' : '';
  if (p.p99 === null) return { name, target, measured: `no alerts in the window ${tail}${verdict}`, met: null };
  return { name, target, measured: `${fmt(p.p99, ' ms')} ${tail}${verdict}`, met: p.p99 <= limit };
}

export function checkTargets(report: BenchReport): TargetCheck[] {
  const files = report.pipeline.filter((p) => p.source === 'file');
  const four = files.find((p) => p.cameras === 4) ?? files[files.length - 1];
  const checks: TargetCheck[] = [];
  checks.push(four
    ? { name: 'throughput', target: `${four.cameras} cameras ≥ 0.90 × bound`, measured: `${four.fps} fps / ${four.bound.fps} fps = ${four.ratio} (on the ${four.bound.availableCores} cores others left: ${four.ratioAvailable})`, met: four.ratio >= 0.9 }
    : { name: 'throughput', target: '4 cameras ≥ 0.90 × bound', measured: 'not run', met: null });
  const peer = report.peer;
  checks.push(peer?.ok && peer.ratio !== undefined
    ? { name: 'peer', target: '≥ 2 × the OpenCV-DNN peer', measured: `1 camera ${peer.ratio} × (best N ${peer.ratioBest} ×), peer ${peer.fps} fps`, met: peer.ratio >= 2 }
    : { name: 'peer', target: '≥ 2 × the OpenCV-DNN peer', measured: peer ? `peer failed: ${peer.error}` : 'not run (--peer)', met: null });
  checks.push(latencyCheck('latency at 80 % load', report.pipeline.find((p) => p.label === 'rtsp-load80'), 1.5, report.latencyBudgetMs));
  checks.push(latencyCheck('latency at 2× overload', report.overload, 2, report.latencyBudgetMs));
  const soak = report.soak;
  checks.push(soak
    ? { name: 'soak', target: 'RSS growth ≤ 5 % over the soak', measured: `${soak.rssGrowthPct} % (with children ${soak.totalRssGrowthPct} %) over ${round(soak.durationS / 60, 1)} min`, met: soak.rssGrowthPct <= 5 }
    : { name: 'soak', target: 'RSS growth ≤ 5 % over 30 min', measured: 'not run (--soak 30m)', met: null });
  return checks;
}
