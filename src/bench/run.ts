/**
 * `runBench`: every measurement of `linesight bench` in one run, in this order
 * so that each stage is measured alone before they compete: (1) decode,
 * (2) session, preprocessing costs, then (3) the pipeline runs, the peer last.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LinesightError } from '../errors.js';
import { batchesInFlight } from '../app.js';
import { createDetector, framesPerCall } from '../infer/detector.js';
import { silentLogger } from '../log.js';
import { computeBound, sessionFor } from './bound.js';
import { measureDecode } from './decode-rate.js';
import { configSchema } from '../config/schema.js';
import { viewEvery, type LetterboxPlan } from '../ingest/ffmpeg-args.js';
import { LETTERBOX_PAD } from '../preprocess/letterbox.js';
import { clipInfo, machineInfo } from './inputs.js';
import { defaultOptions, type BenchOptions } from './options.js';
import { runPeer } from './peer.js';
import { runPipeline, type PipelineSpec } from './pipeline-run.js';
import { measurePreprocess } from './preprocess-cost.js';
import { BENCH_SCHEMA, type BenchReport, type DecodeResult, type PipelineResult, type SessionResult, type SoakResult } from './report.js';
import { onPath, startMosquitto, startRtspServer, type Service } from './services.js';
import { forceSessionVariant, measureSession, measureSessionPool, SESSION_VARIANTS } from './session-rate.js';
import { soakSummary } from './soak.js';
import { round } from './stats.js';
import { checkTargets } from './targets.js';

/** Load of the latency run, as a fraction of what the box took with file cameras. */
const LATENCY_LOAD = 0.8;
const OVERLOAD = 2;

/**
 * Runs the benchmark and returns its report (also written to `options.out` as JSON).
 *
 * @example
 * const report = await runBench({ cameras: [1, 4], seconds: 20, peer: true });
 * console.log(formatBenchTable(report));
 */
export async function runBench(input: Partial<BenchOptions> = {}): Promise<BenchReport> {
  const o: BenchOptions = { ...defaultOptions(), ...input };
  if (o.thread === 'main' && o.sessions !== 1 && o.sessions !== 'auto') {
    throw new LinesightError('E_CLI', `Expected --thread worker with --sessions ${o.sessions} but received --thread main (sessions side by side need worker threads)`);
  }
  if (o.sessionVariant === 'default') return measureAll(o);
  if (o.thread === 'worker') {
    // The variant patches onnxruntime in this thread; a worker's session would run without it.
    throw new LinesightError('E_CLI', `Expected --thread main with --session-variant ${o.sessionVariant} but received --thread worker (the variant cannot reach a worker's session)`);
  }
  const undo = forceSessionVariant(o.sessionVariant);
  try {
    return await measureAll(o);
  } finally {
    undo();
  }
}

async function measureAll(o: BenchOptions): Promise<BenchReport> {
  const log = o.log ?? silentLogger();
  const progress = o.onProgress ?? (() => undefined);
  const notes: string[] = [];
  const startedAt = new Date().toISOString();
  const machine = await machineInfo();
  const clip = await clipInfo(o.clip);

  // The pipeline's own loader, opened as the pipeline opens it, tells the provider, input size, batch capability and sessions.
  const probe = await createDetector({ path: o.model, providers: o.providers, threads: o.threads, thread: o.thread, sessions: o.sessions }, log);
  const info = probe.info;
  await probe.close();
  const pipelineBatch = framesPerCall(info, o.batchMax);
  const cameraCounts = [...new Set(o.cameras)].sort((a, b) => a - b);
  const maxCameras = cameraCounts[cameraCounts.length - 1];

  // ffmpeg with the pipeline's own arguments (ingest.letterbox); the other composition is reported beside it.
  const plan: LetterboxPlan = {
    width: info.inputWidth, height: info.inputHeight, pad: LETTERBOX_PAD, viewEvery: viewEvery(clip.fps, configSchema.shape.overlay.parse(undefined).preview_fps),
  };
  const decodeVariants = [o.letterbox, o.letterbox === 'ffmpeg' ? 'sharp' : 'ffmpeg'] as const;
  const decodes: DecodeResult[] = [];
  for (const variant of decodeVariants) {
    progress(`decode-only: ffmpeg on ${clip.width}×${clip.height} @ ${clip.fps} fps for ${o.decodeSeconds} s, ${variant === 'ffmpeg' ? 'letterboxed by ffmpeg' : 'full size'}`);
    decodes.push(await measureDecode({ clip, fps: clip.fps, seconds: o.decodeSeconds, threads: o.decodeThreads, scheduling: o.decoderScheduling, ...(variant === 'ffmpeg' ? { letterbox: plan } : {}) }));
  }
  const decode = decodes[0];

  const batches = [...new Set([1, pipelineBatch, ...cameraCounts.map((n) => Math.min(n, pipelineBatch))])].sort((a, b) => a - b);
  const session: SessionResult[] = [];
  for (const batch of batches) {
    progress(`session: batch ${batch} on ${info.provider} for ${o.sessionSeconds} s`);
    const same = { modelPath: o.model, providers: o.providers, info, batch, threads: o.threads, seconds: o.sessionSeconds };
    // Measured the way the pipeline opens it: on the main thread, or on its worker thread(s).
    session.push(await (o.thread === 'worker' ? measureSessionPool({ ...same, sessions: o.sessions }) : measureSession(same)));
  }
  progress('preprocess: sharp letterbox and tensor fill per frame');
  const preprocess = await measurePreprocess(clip, info, Math.min(3, o.sessionSeconds));

  const experiments: BenchReport['experiments'] = { session: [], decode: decodes.slice(1) };
  if (o.sweep) {
    for (const threads of [1, 2, 0]) {
      for (const batch of [...new Set([1, pipelineBatch])]) {
        progress(`sweep: session threads ${threads || 'default'}, batch ${batch}`);
        experiments.session.push(await measureSession({ modelPath: o.model, providers: o.providers, info, batch, threads, seconds: o.sessionSeconds }));
      }
    }
    for (const variant of Object.keys(SESSION_VARIANTS).filter((v) => v !== 'default')) {
      progress(`sweep: session ${variant}, batch ${pipelineBatch}`);
      experiments.session.push(await measureSession({ modelPath: o.model, providers: o.providers, info, batch: pipelineBatch, threads: o.threads, seconds: o.sessionSeconds, variant }));
    }
  }

  const boundFor = (cameras: number, cameraFps: number | null) => computeBound({
    cores: machine.cores, decode, session, cameras, batchMax: pipelineBatch, cameraFps, clipFps: clip.fps,
  });

  const services: Service[] = [];
  let broker: Service | undefined;
  let rtsp: Service | undefined;
  const pipeline: PipelineResult[] = [];
  let overload: PipelineResult | null = null;
  let soak: SoakResult | null = null;
  try {
    if (onPath('mosquitto')) {
      broker = await startMosquitto(!o.brokerNagle);
      services.push(broker);
    } else {
      notes.push('mosquitto is not on PATH: PUBACKs come from linesight\'s embedded broker (aedes, in-process).');
    }
    if (o.rtsp) {
      rtsp = await startRtspServer(clip.path, !o.alignedPhases);
      services.push(rtsp);
    }
    const exclude = () => new Set(services.map((s) => s.pid).filter((p): p is number => p !== undefined));
    const base = {
      warmupSeconds: o.warmupSeconds,
      model: { path: o.model, providers: o.providers, threads: o.threads, thread: o.thread, sessions: o.sessions, batchMax: o.batchMax, confidence: o.confidence },
      letterbox: o.letterbox,
      decodeThreads: o.decodeThreads,
      decoderScheduling: o.decoderScheduling,
      inFlight: o.inFlight,
      mqttUrl: broker?.url,
      exclude,
      log,
    };
    const run = (spec: Omit<PipelineSpec, keyof typeof base | 'bound' | 'cores'>) => {
      progress(`pipeline ${spec.label}: ${spec.cameras} ${spec.source} camera(s) at ${round(spec.cameraFps)} fps for ${spec.seconds} s`);
      const paced = spec.source === 'rtsp' ? spec.cameraFps : null;
      return runPipeline({ ...base, ...spec, cores: machine.cores, bound: boundFor(spec.cameras, paced) });
    };

    for (const n of cameraCounts) {
      pipeline.push(await run({ label: `file-${n}`, source: 'file', url: clip.path, cameras: n, cameraFps: clip.fps, seconds: o.seconds }));
    }
    if (rtsp) {
      for (const n of cameraCounts) {
        pipeline.push(await run({ label: `rtsp-${n}`, source: 'rtsp', url: rtsp.url, cameras: n, cameraFps: clip.fps, seconds: o.seconds }));
      }
      // What the box took with file cameras is its capacity (unless --capacity fixes it); load is offered relative to it.
      const capacity = o.capacity ?? pipeline.find((p) => p.label === `file-${maxCameras}`)?.fps ?? 0;
      if (o.capacity !== null) notes.push(`load, overload and soak runs offered shares of --capacity ${o.capacity} frames/s, not of what file-${maxCameras} took`);
      // Each camera is capped at the clip's rate, so load is offered by adding cameras, up to maxPacedCameras.
      const paced = (label: string, load: number) => {
        const want = load * capacity;
        const cameras = Math.min(o.maxPacedCameras, Math.max(maxCameras, Math.ceil(want / clip.fps)));
        const cameraFps = round(Math.max(0.5, Math.min(clip.fps, want / cameras)), 2);
        if (cameraFps * cameras < want * 0.95) {
          notes.push(`${label} offers ${round(cameraFps * cameras)} frames/s, less than the ${round(want)} wanted (${Math.round(load * 100)} % of capacity): `
            + `${cameras} cameras (--max-paced) at most ${clip.fps} frames/s each (the clip's rate)`);
        }
        return { cameras, cameraFps };
      };
      if (o.latency) {
        pipeline.push(await run({ label: 'rtsp-load80', source: 'rtsp', url: rtsp.url, ...paced('rtsp-load80', LATENCY_LOAD), seconds: o.seconds }));
      }
      if (o.overload) {
        overload = await run({ label: 'rtsp-overload', source: 'rtsp', url: rtsp.url, ...paced('rtsp-overload', OVERLOAD), seconds: o.seconds });
      }
      if (o.soakSeconds !== null) {
        const p = paced('soak', LATENCY_LOAD);
        const intervalS = Math.max(2, Math.min(30, Math.round(o.soakSeconds / 60)));
        const samples: SoakResult['samples'] = [];
        const result = await run({ label: 'soak', source: 'rtsp', url: rtsp.url, ...p, seconds: o.soakSeconds, intervalS, onSample: (s) => samples.push(s) });
        soak = soakSummary(result, samples, intervalS);
      }
    } else if (o.latency || o.overload || o.soakSeconds !== null) {
      notes.push('--no-rtsp: the latency, overload and soak runs need paced RTSP cameras and were skipped.');
    }
  } finally {
    for (const s of services.reverse()) await s.stop();
  }

  let peer: BenchReport['peer'] = null;
  if (o.peer) {
    progress(`peer: OpenCV-DNN loop for ${o.seconds} s`);
    peer = await runPeer(clip.path, o.model, o.seconds);
    const one = pipeline.find((p) => p.label === 'file-1') ?? pipeline.find((p) => p.source === 'file');
    const best = Math.max(...pipeline.filter((p) => p.source === 'file').map((p) => p.fps));
    if (peer.ok && peer.fps && one) {
      peer.ratio = round(one.fps / peer.fps, 3);
      peer.ratioBest = round(best / peer.fps, 3);
    }
  }

  const budgetBatch = Math.min(maxCameras, pipelineBatch);
  const latencyBudgetMs = round(decode.cpuMsPerFrame + (sessionFor(session, budgetBatch).callMs.p50 ?? 0));
  if (machine.loadAverageAtStart > machine.cores * 0.75) {
    notes.push(`load average ${machine.loadAverageAtStart} at start on ${machine.cores} cores: other work shared the machine (see otherBusyPct per run).`);
  }
  const report: BenchReport = {
    schema: BENCH_SCHEMA,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    clip,
    model: {
      path: o.model, name: info.name, provider: info.provider, inputWidth: info.inputWidth, inputHeight: info.inputHeight,
      inputType: info.inputType, dynamicBatch: info.dynamicBatch, pipelineBatch, threads: o.threads, thread: o.thread, sessionVariant: o.sessionVariant, letterbox: o.letterbox,
      sessions: info.sessions,
      inFlight: o.inFlight ?? batchesInFlight(o.letterbox, info.sessions),
    },
    broker: broker ? { kind: 'mosquitto', url: broker.url, tcpNoDelay: !o.brokerNagle } : { kind: 'embedded', url: 'mqtt://127.0.0.1 (in-process, a free port per run)' },
    rtspPhases: o.alignedPhases ? 'aligned' : 'spread',
    decode,
    session,
    preprocess,
    pipeline,
    overload,
    soak,
    peer,
    experiments,
    latencyBudgetMs,
    targets: [],
    notes,
  };
  report.targets = checkTargets(report);
  if (o.out) {
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify(report, null, 2) + '\n');
  }
  return report;
}
