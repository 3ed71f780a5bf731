/**
 * `runBench`: every measurement of `linesight bench` in one run, in this order
 * so that each stage is measured alone before they compete: (1) decode,
 * (2) session, then (3) the pipeline runs, the peer last.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { configSchema } from '../config/schema.js';
import { createDetector, framesPerCall } from '../infer/detector.js';
import { pictureEvery, type LetterboxPlan } from '../ingest/ffmpeg-args.js';
import { silentLogger, type Logger } from '../log.js';
import { LETTERBOX_PAD } from '../preprocess/letterbox.js';
import type { ModelInfo } from '../types.js';
import { sessionFor } from './bound.js';
import { measureDecode } from './decode-rate.js';
import { clipInfo, machineInfo } from './inputs.js';
import { defaultOptions, type BenchOptions } from './options.js';
import { peerAgainst } from './peer.js';
import { runSeries, type SeriesResult } from './pipeline-series.js';
import { BENCH_SCHEMA, type BenchReport, type ClipInfo, type DecodeResult, type HealthCostResult, type MachineInfo, type ShadowCostResult, type SessionResult } from './report.js';
import { measureHealthCost } from './health-cost.js';
import { measureShadowCost } from './shadow-cost.js';
import { openSessionPool } from './session-rate.js';
import { round } from './stats.js';
import { checkTargets } from './targets.js';

/** What (1) and (2) measured, and the model as the pipeline will open it. */
interface Stages {
  info: ModelInfo;
  /** The provider and sessions the pool opened (`auto` resolved), as the line opens them. */
  provider: string;
  sessions: number;
  pipelineBatch: number;
  decode: DecodeResult;
  health: HealthCostResult;
  shadow: ShadowCostResult;
  session: SessionResult[];
}

/** ffmpeg letterboxes to the model input and sends every k-th frame at full size, as the line's cameras do. */
function letterboxPlan(info: ModelInfo, clip: ClipInfo): LetterboxPlan {
  const previewFps = configSchema.shape.overlay.parse(undefined).preview_fps;
  return { width: info.inputWidth, height: info.inputHeight, pad: LETTERBOX_PAD, pictureEvery: pictureEvery(clip.fps, previewFps) };
}

async function measureStages(o: BenchOptions, clip: ClipInfo, log: Logger, progress: (message: string) => void): Promise<Stages> {
  // The pipeline's own loader tells the input size and whether frames of several cameras can share a call.
  const probe = await createDetector({ path: o.model, providers: o.providers, threads: o.threads }, log);
  const info = probe.info;
  await probe.close();

  progress(`decode-only: ffmpeg on ${clip.width}×${clip.height} @ ${clip.fps} fps for ${o.decodeSeconds} s, letterboxed to ${info.inputWidth}×${info.inputHeight}`);
  const decode = await measureDecode({
    clip, fps: clip.fps, seconds: o.decodeSeconds, threads: o.decodeThreads, scheduling: o.decoderScheduling, letterbox: letterboxPlan(info, clip),
  });

  progress(`health checks: ${info.inputWidth}×${info.inputHeight} model inputs of the clip`);
  const health = await measureHealthCost(clip, info.inputWidth, info.inputHeight);

  progress('shadow run: the model as a candidate, one single-thread session, one frame per call');
  const shadow = await measureShadowCost(o.model, o.providers);

  const pool = await openSessionPool({ modelPath: o.model, providers: o.providers, info, threads: o.threads, sessions: o.sessions });
  try {
    const pipelineBatch = framesPerCall({ dynamicBatch: info.dynamicBatch, maxCallFrames: pool.maxCallFrames }, o.batchMax);
    const batches = [...new Set([1, pipelineBatch, ...o.cameras.map((n) => Math.min(n, pipelineBatch))])].sort((a, b) => a - b);
    const session: SessionResult[] = [];
    for (const batch of batches) {
      progress(`session: batch ${batch} on ${pool.provider}, ${pool.sessions} session(s), for ${o.sessionSeconds} s`);
      session.push(await pool.measure(batch, o.sessionSeconds));
    }
    return { info, provider: pool.provider, sessions: pool.sessions, pipelineBatch, decode, health, shadow, session };
  } finally {
    await pool.release();
  }
}

interface ReportParts {
  startedAt: string;
  machine: MachineInfo;
  clip: ClipInfo;
  stages: Stages;
  series: SeriesResult;
  peer: BenchReport['peer'];
  notes: string[];
}

function buildReport(o: BenchOptions, parts: ReportParts): BenchReport {
  const { machine, stages, series, notes } = parts;
  const { info, decode, session, pipelineBatch } = stages;
  const budgetBatch = Math.min(Math.max(...o.cameras), pipelineBatch);
  if (machine.loadAverageAtStart > machine.cores * 0.75) {
    notes.push(`load average ${machine.loadAverageAtStart} at start on ${machine.cores} cores: other work shared the machine (see otherBusyPct per run).`);
  }
  const report: BenchReport = {
    schema: BENCH_SCHEMA,
    startedAt: parts.startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    clip: parts.clip,
    model: {
      path: o.model, name: info.name, provider: stages.provider, inputWidth: info.inputWidth, inputHeight: info.inputHeight,
      inputType: info.inputType, dynamicBatch: info.dynamicBatch, pipelineBatch, threads: o.threads, sessions: stages.sessions,
    },
    broker: series.brokerUrl ? { kind: 'mosquitto', url: series.brokerUrl } : { kind: 'embedded', url: 'mqtt://127.0.0.1 (in-process, a free port per run)' },
    decode,
    health: stages.health,
    shadow: stages.shadow,
    session,
    pipeline: series.pipeline,
    overload: series.overload,
    soak: series.soak,
    peer: parts.peer,
    latencyBudgetMs: round(decode.cpuMsPerFrame + (sessionFor(session, budgetBatch).callMs.p50 ?? 0)),
    targets: [],
    notes,
  };
  report.targets = checkTargets(report);
  return report;
}

/**
 * Runs the benchmark and returns its report (also written to `options.out` as JSON).
 *
 * @example
 * const report = await runBench({ cameras: [1, 4], seconds: 20, peer: true });
 * console.log(formatBenchTable(report));
 */
export async function runBench(input: Partial<BenchOptions> = {}): Promise<BenchReport> {
  const o: BenchOptions = { ...defaultOptions(), ...input };
  const log = o.log ?? silentLogger();
  const progress = o.onProgress ?? (() => undefined);
  const notes: string[] = [];
  const startedAt = new Date().toISOString();
  const machine = await machineInfo();
  const clip = await clipInfo(o.clip);
  const stages = await measureStages(o, clip, log, progress);
  const series = await runSeries({ options: o, clip, machine, decode: stages.decode, session: stages.session, pipelineBatch: stages.pipelineBatch, log, progress, notes });
  let peer: BenchReport['peer'] = null;
  if (o.peer) {
    progress(`peer: OpenCV-DNN loop for ${o.seconds} s`);
    peer = await peerAgainst(clip.path, o.model, o.seconds, series.pipeline);
  }
  const report = buildReport(o, { startedAt, machine, clip, stages, series, peer, notes });
  if (o.out) {
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify(report, null, 2) + '\n');
  }
  return report;
}
