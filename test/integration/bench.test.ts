/**
 * `linesight bench` runs end to end, as a user runs it (the built CLI in its own
 * process), on real parts (ffmpeg, onnxruntime, the RTSP server, mosquitto), and
 * its report has every field with a sane type. Benchmarks are not tests: nothing
 * here checks a time or a rate against a threshold.
 */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBenchArgs, parseDuration } from '../../src/bench/options.js';
import { RTSP_PACKAGES, rtspServerProblem } from '../../src/bench/services.js';
import type { BenchReport, Percentiles, PipelineResult } from '../../src/bench/report.js';
import { isLinesightError } from '../../src/errors.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeClip } from '../helpers/clips.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const BENCH_PROCESSES = ['ffmpeg', 'rtsp_server.py', 'mosquitto', 'peer_opencv.py'];

afterAll(() => killStrays(BENCH_PROCESSES));

const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const nonNeg = (v: unknown) => isNum(v) && (v as number) >= 0;

/** A clip of its own, in a folder of its own: any process still naming it after the bench exits is the bench's. */
async function ownClip(spec: Parameters<typeof makeClip>[0]): Promise<{ clip: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-bench-test-'));
  const clip = join(dir, 'clip.mp4');
  copyFileSync(await makeClip(spec), clip);
  return { clip, dir };
}

/** Processes anywhere on the machine whose command line names `path` (the bench's children outlive it as orphans, not descendants). */
async function expectNoProcessNaming(path: string, timeoutMs = 3000): Promise<void> {
  const naming = () => readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((pid) => {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return args.some((a) => a.includes(path)) ? [`pid ${pid}: ${args.join(' ')}`] : [];
    } catch {
      return []; // gone meanwhile
    }
  });
  const deadline = Date.now() + timeoutMs;
  while (naming().length > 0 && Date.now() < deadline) await sleep(100);
  expect(naming()).toEqual([]);
}

async function bench(args: string[], out: string): Promise<{ report: BenchReport; stdout: string; stderr: string }> {
  const r = await runCli(['bench', ...args, '--out', out], { timeoutMs: 240_000 });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain(`bench: wrote ${out}`);
  return { report: JSON.parse(readFileSync(out, 'utf8')) as BenchReport, stdout: r.stdout, stderr: r.stderr };
}

function expectPercentiles(p: Percentiles): void {
  expect(Number.isInteger(p.n) && p.n >= 0).toBe(true);
  for (const k of ['p50', 'p95', 'p99', 'max'] as const) {
    if (p.n === 0) expect(p[k]).toBeNull();
    else expect(nonNeg(p[k])).toBe(true);
  }
  if (p.n > 0) expect(p.p50! <= p.p95! && p.p95! <= p.p99! && p.p99! <= p.max!).toBe(true);
}

/** A pipeline run's fields; `framesInSessions` is the most frames in the sessions at once (one batch per session × frames per batch). */
function expectPipeline(p: PipelineResult, framesInSessions: number): void {
  expect(['file', 'rtsp']).toContain(p.source);
  for (const k of ['cameras', 'cameraFps', 'batchMax', 'seconds', 'framesReceived', 'framesInspected', 'fps', 'receivedFps', 'ratio', 'ratioAvailable', 'alerts',
    'meanBatch', 'cpuPct', 'cpuSelfPct', 'cpuChildrenPct', 'machineBusyPct', 'otherBusyPct', 'restarts'] as const) {
    expect(nonNeg(p[k]), `${p.label}.${k} = ${String(p[k])}`).toBe(true);
  }
  expect(p.framesInspected).toBeGreaterThan(0); // it ran, whatever the speed
  // Frames received before the window opened and inspected in it: those in the sessions then (up to `framesInSessions`), and
  // per camera the one waiting in its slot and the one decoded behind it, held back by flow control.
  expect(p.framesInspected).toBeLessThanOrEqual(p.framesReceived + framesInSessions + p.cameras * 2);
  expect(Object.keys(p.dropped).sort()).toEqual(['bad_frame', 'inference_error', 'shutdown', 'superseded']);
  for (const v of Object.values(p.dropped)) expect(Number.isInteger(v) && v >= 0).toBe(true);
  expect(['cpu', 'session', 'decode', 'offered']).toContain(p.bound.limitedBy);
  for (const k of ['fps', 'cpuBound', 'sessionBound', 'decodeBound', 'harmonic', 'batch', 'availableCores', 'availableFps'] as const) {
    expect(nonNeg(p.bound[k]), `${p.label}.bound.${k}`).toBe(true);
  }
  expect(p.bound.fps).toBeLessThanOrEqual(Math.min(p.bound.cpuBound, p.bound.sessionBound, p.bound.decodeBound) + 0.01);
  expect(p.bound.availableFps!).toBeLessThanOrEqual(p.bound.fps + 0.01); // others' load only ever takes cores away
  expectPercentiles(p.inferLatencyMs);
  expectPercentiles(p.callMs);
  expectPercentiles(p.waitMs);
  expect([p.callMs.n, p.waitMs.n]).toEqual([p.inferLatencyMs.n, p.inferLatencyMs.n]); // both parts of every frame's latency
  // Each frame's call is part of its capture→inferred (which a whole-ms clock times), so every percentile of it is too.
  expect(p.callMs.p50!).toBeLessThanOrEqual(p.inferLatencyMs.p50! + 1);
  expect(p.callMs.p99!).toBeLessThanOrEqual(p.inferLatencyMs.p99! + 1);
  expectPercentiles(p.arrivalDelayMs);
  if (p.source === 'file') expect(p.arrivalDelayMs.n).toBe(0); // a file's frame times are estimates, not the stream's
  else expect(p.arrivalDelayMs.n).toBe(p.inferLatencyMs.n); // every camera frame carries its stream time
  expectPercentiles(p.pubackLatencyMs);
  expect(p.pubackLatencyMs.n).toBe(p.alerts);
  for (const k of ['selfMb', 'childrenMb', 'totalMb'] as const) expect(nonNeg(p.peakRss[k])).toBe(true);
  expect(p.peakRss.selfMb).toBeGreaterThan(0);
}

/** (1): ffmpeg with the pipeline's own arguments, the model input on stdout and every 2nd frame at full size (the clip's 10 fps over the preview's 8). */
function expectDecode(report: BenchReport, clip: string, threads: number, scheduling: string): void {
  const d = report.decode;
  expect(d).toMatchObject({ threads, scheduling, frameBytes: 320 * 320 * 3 });
  expect(d.args).toEqual(expect.arrayContaining(['-i', clip, '-filter_complex', 'pipe:1', 'pipe:3']));
  expect(d.args.join(' ')).toContain('pad=320:320:');
  const input = d.args.slice(0, d.args.indexOf('-i')); // decoder options: ingest.decode_threads, or none for ffmpeg's choice
  if (threads > 0) expect(input.slice(input.indexOf('-threads'), input.indexOf('-threads') + 2)).toEqual(['-threads', String(threads)]);
  else expect(input).not.toContain('-threads');
  expect(d.fullSizeFrames).toBeGreaterThan(0);
  expect(Math.abs(d.fullSizeFrames - d.frames / 2)).toBeLessThanOrEqual(2);
  for (const k of ['frames', 'seconds', 'fps', 'cpuMsPerFrame', 'cpuPct'] as const) expect(nonNeg(d[k])).toBe(true);
}

describe('linesight bench', () => {
  it('measures decode, session and pipeline in one run and reports every field', async () => {
    const { clip, dir } = await ownClip({
      width: 320, height: 240, fps: 10, seconds: 3,
      squares: [{ color: 'red', x: 100, y: 60, w: 60, h: 60, from: 0.5, to: 2.5 }],
    });
    const out = join(dir, 'bench.json');
    const { report, stdout, stderr } = await bench(['--model', MODEL, '--clip', clip, '--cameras', '1', '--seconds', '2', '--warmup', '0.5',
      '--providers', 'cpu', '--overload', '--soak', '4s', '--peer', '--max-paced', '3'], out);

    expect(report.schema).toBe('linesight.bench/2');
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(Date.parse(report.startedAt));
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(typeof report.machine.cpuModel).toBe('string');
    expect(report.machine.memTotalMb).toBeGreaterThan(0);
    expect(report.clip).toMatchObject({ path: clip, width: 320, height: 240, fps: 10, frames: 30, codec: 'h264' });
    // The product's default, sessions auto: one single-thread session per core (up to 4), one frame per call.
    const pool = Math.min(availableParallelism(), 4);
    expect(report.model).toEqual({
      path: MODEL, name: 'squares-v8', provider: 'cpu', inputWidth: 320, inputHeight: 320, inputType: 'float32', dynamicBatch: true,
      pipelineBatch: pool > 1 ? 1 : 4, threads: 0, sessions: pool,
    });
    expect(['mosquitto', 'embedded']).toContain(report.broker.kind);
    expectDecode(report, clip, 1, 'batch'); // ingest.decode_threads' and ingest.decoder_scheduling's defaults, as the cameras run

    expect(report.session.map((s) => s.batch)).toEqual(pool > 1 ? [1] : [1, 4]);
    for (const s of report.session) {
      expect(s.sessions).toBe(pool);
      expect(s.calls).toBeGreaterThan(0);
      for (const k of ['seconds', 'fps', 'cpuMsPerFrame', 'cpuPct'] as const) expect(nonNeg(s[k])).toBe(true);
      expectPercentiles(s.callMs);
    }

    expect(report.pipeline.map((p) => p.label)).toEqual(['file-1', 'rtsp-1', 'rtsp-load80']);
    const framesInSessions = report.model.sessions * report.model.pipelineBatch;
    for (const p of report.pipeline) expectPipeline(p, framesInSessions);
    expect(report.pipeline[0].bound.offered).toBeNull(); // files run as fast as possible
    expect(report.pipeline[1].bound.offered).toBe(10); // one camera at the clip's 10 fps
    expect(report.overload?.label).toBe('rtsp-overload');
    expectPipeline(report.overload!, framesInSessions);
    // The tiny clip's capacity asks for far more than 3 paced cameras at 10 fps: the runs are capped and say so.
    const capacity = report.pipeline[0].fps;
    for (const p of [report.pipeline[2], report.overload!]) expect(p.cameras).toBeLessThanOrEqual(3);
    if (3 * 10 < 2 * capacity * 0.95) expect(report.notes.some((n) => n.startsWith('rtsp-overload offers') && n.includes('--max-paced'))).toBe(true);

    const soak = report.soak!;
    expect(soak.samples.length).toBeGreaterThan(0);
    for (const s of soak.samples) {
      for (const k of ['atS', 'selfRssMb', 'childrenRssMb', 'heapUsedMb', 'fps'] as const) expect(nonNeg(s[k])).toBe(true);
    }
    for (const k of ['rssGrowthPct', 'totalRssGrowthPct', 'heapGrowthPct'] as const) expect(isNum(soak[k])).toBe(true);

    // The fixture graph is hand-made and OpenCV 4.6 may refuse it: either way the peer reports, never throws.
    expect(typeof report.peer?.ok).toBe('boolean');
    if (report.peer?.ok) expect(nonNeg(report.peer.fps) && nonNeg(report.peer.ratio)).toBe(true);
    else expect(typeof report.peer?.error).toBe('string');

    expect(nonNeg(report.latencyBudgetMs)).toBe(true);
    expect(report.targets.map((t) => t.name)).toEqual(['throughput', 'peer', 'latency at 80 % load', 'latency at 2× overload', 'soak']);
    for (const t of report.targets) expect([true, false, null]).toContain(t.met);
    expect(Array.isArray(report.notes)).toBe(true);
    expect(stderr.split('\n').filter((l) => l.startsWith('bench: ')).length).toBeGreaterThan(3); // progress as it goes

    expect(report.health).toMatchObject({ samples: 300, inputWidth: 320, inputHeight: 320, sampleFps: 2 });
    expect(report.health!.msPerSample).toBeGreaterThan(0);
    expect(report.health!.corePctPerCamera).toBeCloseTo((report.health!.msPerSample * 2) / 10, 2);
    for (const part of ['(1) decode only', '(1b) health checks', '(2) session', '(3) pipeline', 'file-1', 'rtsp-overload', 'soak', 'targets']) expect(stdout).toContain(part);
    await expectNoStrays(BENCH_PROCESSES);
    await expectNoProcessNaming(clip);
  }, 300_000);

  it('measures the config the flags name: sessions, threads, batch_max, decode threads and scheduling', async () => {
    const { clip, dir } = await ownClip({ width: 320, height: 240, fps: 10, seconds: 2, squares: [{ color: 'green', x: 40, y: 40, w: 50, h: 50 }] });
    const out = join(dir, 'bench.json');
    const { report, stdout } = await bench(['--model', MODEL, '--clip', clip, '--cameras', '2', '--seconds', '1', '--warmup', '0.2', '--providers', 'cpu',
      '--no-rtsp', '--sessions', '1', '--threads', '1', '--batch-max', '2', '--decode-threads', '0', '--decoder-scheduling', 'normal'], out);
    expect(report.model).toMatchObject({ sessions: 1, threads: 1, pipelineBatch: 2 });
    expectDecode(report, clip, 0, 'normal');
    expect(report.session.map((s) => [s.batch, s.sessions, s.threads])).toEqual([[1, 1, 1], [2, 1, 1]]);
    expect(report.pipeline.map((p) => [p.label, p.batchMax])).toEqual([['file-2', 2]]);
    expectPipeline(report.pipeline[0], 2);
    expect([report.overload, report.soak, report.peer]).toEqual([null, null, null]);
    expect(report.notes.some((n) => n.startsWith('--no-rtsp: '))).toBe(true);
    expect(stdout).toContain('note: --no-rtsp: ');
    await expectNoStrays(BENCH_PROCESSES);
    await expectNoProcessNaming(clip);
  }, 240_000);

  it('exits 1 with an error naming the flag, what it expects and what it got', async () => {
    const cases: Array<[string[], string[]]> = [
      [['--seconds', 'ten'], ['--seconds', '"ten"', 'number of seconds']],
      [['--cameras', '1,,4'], ['--cameras', '"1,,4"', 'camera counts']],
      [['--sessions', '0'], ['--sessions', '"auto" or an integer ≥ 1', '"0"']],
      [['--sweep'], ['--sweep', 'linesight bench --help']], // an experiment that is no longer part of the bench
      [['--warmup'], ['--warmup', 'a value']],
    ];
    for (const [args, parts] of cases) {
      const r = await runCli(['bench', ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^linesight: E_CLI: /);
      for (const part of parts) expect(r.stderr, args.join(' ')).toContain(part);
    }
  });

  it('parses the command line the CLI hands over, and refuses every bad value with E_CLI naming its flag', () => {
    expect(parseBenchArgs(['--help'])).toBeNull();
    expect(parseBenchArgs(['--cameras', '1,4', '--seconds', '5', '--overload', '--soak', '30m', '--peer', '--out', '-'])).toEqual({
      cameras: [1, 4], seconds: 5, decodeSeconds: 5, sessionSeconds: 5, overload: true, soakSeconds: 1800, peer: true, out: null,
    });
    expect(parseBenchArgs(['--max-paced', '8', '--decode-threads', '0', '--decoder-scheduling', 'normal', '--sessions', 'auto', '--threads', '2', '--batch-max', '1']))
      .toEqual({ maxPacedCameras: 8, decodeThreads: 0, decoderScheduling: 'normal', sessions: 'auto', threads: 2, batchMax: 1 });
    expect(parseBenchArgs(['--providers', 'cuda,cpu', '--no-rtsp', '--warmup', '0', '--model', MODEL])).toEqual({ providers: ['cuda', 'cpu'], rtsp: false, warmupSeconds: 0, model: MODEL });
    expect(parseDuration('90s', '--soak')).toBe(90);
    expect(parseDuration('1h', '--soak')).toBe(3600);
    const bad: string[][] = [
      ['--cameras', 'two'], ['--cameras', '0'], ['--cameras', '1.5'], ['--soak', 'soon'], ['--soak', '0s'], ['--seconds', '0'], ['--seconds', '0x10'], ['--seconds', '1e3'],
      ['--warmup', '-1'], ['--batch-max', '0'], ['--threads', '1.5'], ['--threads', ' 2'], ['--max-paced', '0'], ['--decode-threads', '-1'], ['--sessions', 'many'],
      ['--decoder-scheduling', 'fifo'], ['--providers', 'gpu'], ['--providers', 'cpu,cpu'], ['--providers', ''], ['--model', '/nonexistent.onnx'], ['--clip', ROOT],
      ['--out', ''], ['--thread', 'main'], ['--letterbox', 'sharp'], ['--in-flight', '2'], ['--capacity', '80'], ['--broker-nagle'], ['--aligned-phases'],
      ['--session-variant', 'no-arena'], ['--peer=yes'], ['extra'],
    ];
    for (const args of bad) {
      let caught: unknown;
      try {
        parseBenchArgs(args);
      } catch (err) {
        caught = err;
      }
      expect(isLinesightError(caught, 'E_CLI'), args.join(' ')).toBe(true);
      if (args[0].startsWith('--')) expect((caught as Error).message, args.join(' ')).toContain(args[0].split('=')[0]);
    }
  });

  it('says what to install when the RTSP server cannot run', async () => {
    for (const python of ['/nonexistent/python3', '/bin/false']) {
      const problem = await rtspServerProblem(python);
      expect(problem, python).toContain(python);
      expect(problem, python).toContain(RTSP_PACKAGES);
    }
  });
});
