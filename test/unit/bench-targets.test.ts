import { describe, expect, it } from 'vitest';
import { checkTargets } from '../../src/bench/targets.js';
import { percentiles } from '../../src/bench/stats.js';
import type { BenchReport, PipelineResult } from '../../src/bench/report.js';

/** The fields of a pipeline run that the targets read; the rest of a run does not matter to them. */
function run(label: string, latencies: { puback: number[]; call: number[]; infer: number[] }, extra: Partial<PipelineResult> = {}): PipelineResult {
  return {
    label,
    source: 'rtsp',
    cameras: 4,
    fps: 60,
    ratio: 1,
    ratioAvailable: 1,
    bound: { fps: 60, availableCores: 2 },
    dropped: { superseded: 3, bad_frame: 0, inference_error: 0, shutdown: 0 },
    pubackLatencyMs: percentiles(latencies.puback),
    inferLatencyMs: percentiles(latencies.infer),
    callMs: percentiles(latencies.call),
    ...extra,
  } as PipelineResult;
}

function report(pipeline: PipelineResult[], overload: PipelineResult | null, budget = 20): BenchReport {
  return { pipeline, overload, peer: null, soak: null, latencyBudgetMs: budget } as unknown as BenchReport;
}

const flat = (v: number, n = 100) => Array.from({ length: n }, () => v);

describe('bench targets', () => {
  it('checks the 80 % load latency against 1.5 × the budget, and says when the call alone is already over it', () => {
    const within = run('rtsp-load80', { puback: flat(25), call: flat(18), infer: flat(22) });
    const [, , load] = checkTargets(report([within], null));
    expect(load.target).toContain('= 30 ms');
    expect(load.met).toBe(true);
    expect(load.measured).not.toContain('call alone is over');

    // Calls of 35 ms against a 30 ms limit: waiting is not what fails the target.
    const slowCalls = run('rtsp-load80', { puback: flat(45), call: flat(35), infer: flat(40) });
    const [, , slow] = checkTargets(report([slowCalls], null));
    expect(slow.met).toBe(false);
    expect(slow.measured).toContain('the call alone p99 35 ms');
    expect(slow.measured).toContain('the call alone is over the limit');

    // Over the limit because frames waited, while the calls fit: no verdict on the calls.
    const queued = run('rtsp-load80', { puback: flat(45), call: flat(18), infer: flat(40) });
    const [, , wait] = checkTargets(report([queued], null));
    expect(wait.met).toBe(false);
    expect(wait.measured).not.toContain('call alone is over');
  });

  it('checks overload against 2 × the budget, counts its drops, and leaves unmeasured targets open', () => {
    const over = run('rtsp-overload', { puback: flat(50), call: flat(45), infer: flat(48) }, { dropped: { superseded: 1855, bad_frame: 2, inference_error: 0, shutdown: 0 } });
    const checks = checkTargets(report([], over));
    const overload = checks.find((c) => c.name === 'latency at 2× overload')!;
    expect(overload.target).toContain('= 40 ms');
    expect(overload.met).toBe(false);
    expect(overload.measured).toContain('1857 frames dropped');
    expect(overload.measured).toContain('the call alone is over the limit');
    // No file run, no peer, no load run, no soak: nothing to say about them.
    expect(checks.filter((c) => c.met === null).map((c) => c.name)).toEqual(['throughput', 'peer', 'latency at 80 % load', 'soak']);
  });

  it('has no verdict on a run that confirmed no alerts', () => {
    const quiet = run('rtsp-load80', { puback: [], call: flat(35), infer: flat(40) });
    const [, , load] = checkTargets(report([quiet], null));
    expect(load.met).toBeNull();
    expect(load.measured).toMatch(/^no alerts in the window/);
  });
});
