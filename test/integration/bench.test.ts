/**
 * `linesight bench` runs end to end on real parts (ffmpeg, onnxruntime, the RTSP
 * server, mosquitto) and its report has every field with a sane type. Benchmarks
 * are not tests: nothing here checks a time or a rate against a threshold.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBenchArgs, parseDuration } from '../../src/bench/options.js';
import { runBench } from '../../src/bench/run.js';
import { formatBenchTable } from '../../src/bench/table.js';
import type { BenchReport, Percentiles, PipelineResult } from '../../src/bench/report.js';
import { isLinesightError } from '../../src/errors.js';
import { ROOT } from '../helpers/cli.js';
import { makeClip } from '../helpers/clips.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');

afterAll(() => killStrays());

const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const nonNeg = (v: unknown) => isNum(v) && (v as number) >= 0;

function expectPercentiles(p: Percentiles): void {
  expect(Number.isInteger(p.n) && p.n >= 0).toBe(true);
  for (const k of ['p50', 'p95', 'p99', 'max'] as const) {
    if (p.n === 0) expect(p[k]).toBeNull();
    else expect(nonNeg(p[k])).toBe(true);
  }
  if (p.n > 0) expect(p.p50! <= p.p95! && p.p95! <= p.p99! && p.p99! <= p.max!).toBe(true);
}

/** A pipeline run's fields; `inFlight` is the most frames in the sessions at once (batches in flight × frames per batch). */
function expectPipeline(p: PipelineResult, inFlight: number): void {
  expect(['file', 'rtsp']).toContain(p.source);
  for (const k of ['cameras', 'cameraFps', 'batchMax', 'seconds', 'framesReceived', 'framesInspected', 'fps', 'receivedFps', 'ratio', 'ratioAvailable', 'alerts',
    'meanBatch', 'cpuPct', 'cpuSelfPct', 'cpuChildrenPct', 'machineBusyPct', 'otherBusyPct', 'restarts'] as const) {
    expect(nonNeg(p[k]), `${p.label}.${k} = ${String(p[k])}`).toBe(true);
  }
  expect(p.framesInspected).toBeGreaterThan(0); // it ran, whatever the speed
  // Frames received before the window opened and inspected in it: those in the sessions then (up to `inFlight`), and
  // per camera the one waiting in its slot and the one decoded behind it, held back by flow control.
  expect(p.framesInspected).toBeLessThanOrEqual(p.framesReceived + inFlight + p.cameras * 2);
  expect(Object.keys(p.dropped).sort()).toEqual(['bad_frame', 'shutdown', 'superseded']);
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

describe('linesight bench', () => {
  it('measures decode, session and pipeline in one run and reports every field', async () => {
    const clip = await makeClip({
      width: 320, height: 240, fps: 10, seconds: 3,
      squares: [{ color: 'red', x: 100, y: 60, w: 60, h: 60, from: 0.5, to: 2.5 }],
    });
    const out = join(mkdtempSync(join(tmpdir(), 'linesight-bench-test-')), 'bench.json');
    const progress: string[] = [];
    const report = await runBench({
      model: MODEL, clip, cameras: [1], seconds: 2, warmupSeconds: 0.5, decodeSeconds: 1, sessionSeconds: 0.5,
      providers: ['cpu'], overload: true, soakSeconds: 4, peer: true, letterbox: 'ffmpeg', maxPacedCameras: 3, out, onProgress: (m) => progress.push(m),
    });

    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(JSON.parse(JSON.stringify(report)));
    expect(report.schema).toBe('linesight.bench/1');
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(Date.parse(report.startedAt));
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(typeof report.machine.cpuModel).toBe('string');
    expect(report.machine.memTotalMb).toBeGreaterThan(0);
    expect(report.clip).toMatchObject({ path: clip, width: 320, height: 240, fps: 10, frames: 30, codec: 'h264' });
    expect(report.model).toMatchObject({ name: 'squares-v8', provider: 'cpu', inputWidth: 320, inputHeight: 320, dynamicBatch: true, letterbox: 'ffmpeg', thread: 'worker' });
    // The product's default, sessions auto: one single-thread session per core (up to 4), one frame per call.
    const pool = Math.min(availableParallelism(), 4);
    expect(report.model).toMatchObject({ sessions: pool, pipelineBatch: pool > 1 ? 1 : 4 });
    expect(report.session.every((s) => s.sessions === pool)).toBe(true);
    expect(['mosquitto', 'embedded']).toContain(report.broker.kind);
    expect(report.rtspPhases).toBe('spread');

    // (1) is ffmpeg with the pipeline's own arguments: the model input on stdout, full size every 2nd frame
    // (the clip's 10 fps over the preview's 8); the full-size composition is measured beside it.
    expect(report.decode.variant).toBe('ffmpeg-letterbox');
    expect(report.decode.threads).toBe(1); // ingest.decode_threads' default, as the cameras run
    expect(report.decode.scheduling).toBe('batch'); // ingest.decoder_scheduling's default
    expect(report.decode.args.slice(report.decode.args.indexOf('-threads'), report.decode.args.indexOf('-threads') + 2)).toEqual(['-threads', '1']);
    expect(report.decode.args).toEqual(expect.arrayContaining(['-i', clip, '-filter_complex', 'pipe:1', 'pipe:3']));
    expect(report.decode.args.join(' ')).toContain('pad=320:320:');
    expect(report.decode.frameBytes).toBe(320 * 320 * 3);
    expect(report.decode.fullSizeFrames).toBeGreaterThan(0);
    expect(Math.abs(report.decode.fullSizeFrames - report.decode.frames / 2)).toBeLessThanOrEqual(2);
    expect(report.experiments.decode).toHaveLength(1);
    const fullSize = report.experiments.decode[0];
    expect(fullSize).toMatchObject({ variant: 'full-size', frameBytes: 320 * 240 * 3 });
    expect(fullSize.args).toEqual(expect.arrayContaining(['-pix_fmt', 'rgb24', '-f', 'rawvideo', '-i', clip, 'pipe:1']));
    expect(fullSize.fullSizeFrames).toBe(fullSize.frames);
    for (const d of [report.decode, fullSize]) {
      for (const k of ['frames', 'seconds', 'fps', 'cpuMsPerFrame', 'cpuPct'] as const) expect(nonNeg(d[k])).toBe(true);
    }

    expect(report.session.map((s) => s.batch)).toEqual(pool > 1 ? [1] : [1, 4]);
    for (const s of report.session) {
      expect(s.variant).toBe('default');
      expect(s.calls).toBeGreaterThan(0);
      for (const k of ['seconds', 'fps', 'cpuMsPerFrame', 'cpuPct'] as const) expect(nonNeg(s[k])).toBe(true);
      expectPercentiles(s.callMs);
    }
    for (const k of ['frames', 'sharpLetterboxMs', 'sharpLetterboxCpuMs', 'tensorFillMs', 'tensorAllocMs'] as const) expect(nonNeg(report.preprocess[k])).toBe(true);

    expect(report.pipeline.map((p) => p.label)).toEqual(['file-1', 'rtsp-1', 'rtsp-load80']);
    for (const p of report.pipeline) expectPipeline(p, report.model.inFlight * report.model.pipelineBatch);
    expect(report.pipeline[0].bound.offered).toBeNull(); // files run as fast as possible
    expect(report.pipeline[1].bound.offered).toBe(10); // one camera at the clip's 10 fps
    expect(report.overload?.label).toBe('rtsp-overload');
    expectPipeline(report.overload!, report.model.inFlight * report.model.pipelineBatch);
    // The tiny clip's capacity asks for far more than 3 paced cameras at 10 fps: the runs are capped and say so.
    const capacity = report.pipeline[0].fps;
    for (const p of [report.pipeline[2], report.overload!]) expect(p.cameras).toBeLessThanOrEqual(3);
    if (3 * 10 < 2 * capacity * 0.95) expect(report.notes.some((n) => n.startsWith('rtsp-overload offers') && n.includes('--max-paced'))).toBe(true);

    expect(report.soak).not.toBeNull();
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
    expect(report.experiments.session).toEqual([]);
    expect(Array.isArray(report.notes)).toBe(true);
    expect(progress.length).toBeGreaterThan(3);

    const text = formatBenchTable(report);
    for (const part of ['(1) decode only', '(2) session', '(3) pipeline', 'file-1', 'rtsp-overload', 'soak', 'targets']) expect(text).toContain(part);

    await expectNoStrays(['ffmpeg', 'rtsp_server.py', 'mosquitto', 'peer_opencv.py']);
  }, 240_000);

  it('runs the --sweep experiments and reports them; --letterbox sharp measures and runs the full-size path', async () => {
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 2, squares: [{ color: 'green', x: 40, y: 40, w: 50, h: 50 }] });
    const report = await runBench({
      model: MODEL, clip, cameras: [2], seconds: 1, warmupSeconds: 0.2, decodeSeconds: 0.5, sessionSeconds: 0.3,
      providers: ['cpu'], rtsp: false, sweep: true, letterbox: 'sharp', thread: 'main', sessions: 1, out: null,
    });
    expect(report.model.letterbox).toBe('sharp');
    expect(report.model.inFlight).toBe(2);
    expect(report.decode.variant).toBe('full-size');
    expect(report.experiments.decode.map((d) => d.variant)).toEqual(['ffmpeg-letterbox']);
    expect(report.pipeline.map((p) => p.label)).toEqual(['file-2']);
    expect(report.notes.some((n) => n.includes('--no-rtsp'))).toBe(true);
    // threads 1, 2, default × batch 1, 4, then the four option variants at batch 4
    expect(report.experiments.session.map((s) => `${s.threads}/${s.batch}/${s.variant}`)).toEqual([
      '1/1/default', '1/4/default', '2/1/default', '2/4/default', '0/1/default', '0/4/default',
      '0/4/no-spinning', '0/4/no-mem-pattern', '0/4/no-arena', '0/4/opt-basic',
    ]);
    expect(formatBenchTable(report)).toContain('opt-basic');
    await expectNoStrays(['ffmpeg', 'mosquitto']);
  }, 240_000);

  it('refuses a session variant for a session on the worker thread, which the variant cannot reach', async () => {
    await expect(runBench({ sessionVariant: 'no-arena', thread: 'worker', out: null })).rejects.toMatchObject({ code: 'E_CLI', message: expect.stringContaining('--thread main') });
  });

  it('parses the command line the CLI hands over', () => {
    expect(parseBenchArgs(['--help'])).toBeNull();
    expect(parseBenchArgs(['--cameras', '1,4', '--seconds', '5', '--overload', '--soak', '30m', '--peer', '--out', '-'])).toMatchObject({
      cameras: [1, 4], seconds: 5, overload: true, soakSeconds: 1800, peer: true, out: null,
    });
    expect(parseBenchArgs(['--letterbox', 'sharp', '--thread', 'worker'])).toMatchObject({ letterbox: 'sharp', thread: 'worker' });
    expect(parseBenchArgs(['--in-flight', '2', '--max-paced', '8', '--decode-threads', '0'])).toMatchObject({ inFlight: 2, maxPacedCameras: 8, decodeThreads: 0 });
    expect(parseBenchArgs(['--decoder-scheduling', 'normal', '--capacity', '80'])).toMatchObject({ decoderScheduling: 'normal', capacity: 80 });
    expect(parseDuration('90s', '--soak')).toBe(90);
    expect(parseDuration('1h', '--soak')).toBe(3600);
    for (const bad of [['--cameras', 'two'], ['--soak', 'soon'], ['--batch-max', '0'], ['--in-flight', '0'], ['--max-paced', '0'], ['--letterbox', 'opencv'], ['--decoder-scheduling', 'fifo']]) {
      let caught: unknown;
      try {
        parseBenchArgs(bad);
      } catch (err) {
        caught = err;
      }
      expect(isLinesightError(caught, 'E_CLI'), bad.join(' ')).toBe(true);
    }
  });
});
