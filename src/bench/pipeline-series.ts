/**
 * (3) The series of pipeline runs: N file cameras for each N (as fast as
 * possible: what the box takes), N RTSP cameras for each N (real time), then
 * paced RTSP load offered as a share of what the largest file run took: 80 %
 * (latency), 200 % (overload) and the soak. The broker and the RTSP server are
 * started once for the whole series.
 */
import { isLinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import { computeBound } from './bound.js';
import type { BenchOptions } from './options.js';
import { runPipeline, type PipelineSpec } from './pipeline-run.js';
import type { ClipInfo, DecodeResult, MachineInfo, PipelineResult, SessionResult, SoakResult, SoakSample } from './report.js';
import { onPath, rtspServerProblem, startMosquitto, startRtspServer, type Service } from './services.js';
import { soakSummary } from './soak.js';
import { round } from './stats.js';

/** Load of the latency run, as a fraction of what the box took with file cameras. */
const LATENCY_LOAD = 0.8;
const OVERLOAD = 2;

/** What the series needs from the stages measured before it. */
export interface SeriesInputs {
  options: BenchOptions;
  clip: ClipInfo;
  machine: MachineInfo;
  decode: DecodeResult;
  session: readonly SessionResult[];
  /** Frames per session call in the pipeline. */
  pipelineBatch: number;
  log: Logger;
  progress: (message: string) => void;
  /** Where the series says what it skipped or capped. */
  notes: string[];
}

export interface SeriesResult {
  pipeline: PipelineResult[];
  overload: PipelineResult | null;
  soak: SoakResult | null;
  /** The broker the runs published to: mosquitto, or none (linesight's embedded broker per run). */
  brokerUrl: string | undefined;
}

type RunSpec = Omit<PipelineSpec, 'warmupSeconds' | 'model' | 'decodeThreads' | 'decoderScheduling' | 'mqttUrl' | 'exclude' | 'log' | 'bound' | 'cores'>;
type Run = (spec: RunSpec) => Promise<PipelineResult>;

/** Runs one pipeline with the bench's settings, its bound computed for its cameras and pacing. */
function runner(s: SeriesInputs, mqttUrl: string | undefined, services: readonly Service[]): Run {
  const o = s.options;
  const exclude = () => new Set(services.map((v) => v.pid).filter((p): p is number => p !== undefined));
  return (spec) => {
    s.progress(`pipeline ${spec.label}: ${spec.cameras} ${spec.source} camera(s) at ${round(spec.cameraFps)} fps for ${spec.seconds} s`);
    const bound = computeBound({
      cores: s.machine.cores, decode: s.decode, session: s.session, cameras: spec.cameras, batchMax: s.pipelineBatch,
      cameraFps: spec.source === 'rtsp' ? spec.cameraFps : null, clipFps: s.clip.fps,
    });
    return runPipeline({
      ...spec,
      warmupSeconds: o.warmupSeconds,
      model: { path: o.model, providers: o.providers, threads: o.threads, sessions: o.sessions, batchMax: o.batchMax, confidence: o.confidence },
      decodeThreads: o.decodeThreads,
      decoderScheduling: o.decoderScheduling,
      mqttUrl,
      exclude,
      log: s.log,
      bound,
      cores: s.machine.cores,
    });
  };
}

/** The RTSP server for the paced runs, or undefined (and a note saying why) when they cannot or should not run. */
async function rtspServer(s: SeriesInputs): Promise<Service | undefined> {
  const o = s.options;
  const paced = o.latency || o.overload || o.soakSeconds !== null;
  const skipped = paced ? 'the RTSP, latency, overload and soak runs were skipped' : 'the RTSP runs were skipped';
  if (!o.rtsp) {
    s.notes.push(`--no-rtsp: ${skipped}.`);
    return undefined;
  }
  const problem = await rtspServerProblem();
  if (problem !== null) {
    s.notes.push(`file cameras only, ${skipped}: ${problem}`);
    return undefined;
  }
  try {
    return await startRtspServer(s.clip.path);
  } catch (err) {
    // Installed but refusing this clip (not H.264, say): the file runs still tell what the box takes.
    if (!isLinesightError(err, 'E_CAMERA_UNREACHABLE')) throw err;
    s.notes.push(`file cameras only, ${skipped}: ${err.message}`);
    return undefined;
  }
}

/** Cameras and per-camera rate that offer `load` × `capacity` frames/s: each camera at most at the clip's rate, at most --max-paced of them. */
function pacedLoad(s: SeriesInputs, label: string, load: number, capacity: number): { cameras: number; cameraFps: number } {
  const fps = s.clip.fps;
  const want = load * capacity;
  const least = Math.max(...s.options.cameras);
  const cameras = Math.min(s.options.maxPacedCameras, Math.max(least, Math.ceil(want / fps)));
  const cameraFps = round(Math.max(0.5, Math.min(fps, want / cameras)), 2);
  if (cameraFps * cameras < want * 0.95) {
    s.notes.push(`${label} offers ${round(cameraFps * cameras)} frames/s, less than the ${round(want)} wanted (${Math.round(load * 100)} % of capacity): `
      + `${cameras} cameras (--max-paced) at most ${fps} frames/s each (the clip's rate)`);
  }
  return { cameras, cameraFps };
}

/** The paced runs after rtsp-N: load offered relative to what the largest file run took. */
async function pacedRuns(s: SeriesInputs, run: Run, url: string, capacity: number): Promise<Omit<SeriesResult, 'brokerUrl'>> {
  const o = s.options;
  const pipeline: PipelineResult[] = [];
  if (o.latency) {
    pipeline.push(await run({ label: 'rtsp-load80', source: 'rtsp', url, ...pacedLoad(s, 'rtsp-load80', LATENCY_LOAD, capacity), seconds: o.seconds }));
  }
  const overload = o.overload
    ? await run({ label: 'rtsp-overload', source: 'rtsp', url, ...pacedLoad(s, 'rtsp-overload', OVERLOAD, capacity), seconds: o.seconds })
    : null;
  let soak: SoakResult | null = null;
  if (o.soakSeconds !== null) {
    const intervalS = Math.max(2, Math.min(30, Math.round(o.soakSeconds / 60)));
    const samples: SoakSample[] = [];
    const result = await run({
      label: 'soak', source: 'rtsp', url, ...pacedLoad(s, 'soak', LATENCY_LOAD, capacity), seconds: o.soakSeconds, intervalS, onSample: (x) => samples.push(x),
    });
    soak = soakSummary(result, samples, intervalS);
  }
  return { pipeline, overload, soak };
}

export async function runSeries(s: SeriesInputs): Promise<SeriesResult> {
  const o = s.options;
  const counts = [...new Set(o.cameras)].sort((a, b) => a - b);
  const services: Service[] = [];
  try {
    const broker = onPath('mosquitto') ? await startMosquitto() : undefined;
    if (broker) services.push(broker);
    else s.notes.push('mosquitto is not on PATH: PUBACKs come from linesight\'s embedded broker (aedes, in-process).');
    const run = runner(s, broker?.url, services);
    const pipeline: PipelineResult[] = [];
    for (const n of counts) {
      pipeline.push(await run({ label: `file-${n}`, source: 'file', url: s.clip.path, cameras: n, cameraFps: s.clip.fps, seconds: o.seconds }));
    }
    const rtsp = await rtspServer(s);
    if (!rtsp) return { pipeline, overload: null, soak: null, brokerUrl: broker?.url };
    services.push(rtsp);
    for (const n of counts) {
      pipeline.push(await run({ label: `rtsp-${n}`, source: 'rtsp', url: rtsp.url, cameras: n, cameraFps: s.clip.fps, seconds: o.seconds }));
    }
    // What the box took with file cameras is its capacity; paced load is offered relative to it.
    const capacity = pipeline.find((p) => p.label === `file-${counts[counts.length - 1]}`)?.fps ?? 0;
    const paced = await pacedRuns(s, run, rtsp.url, capacity);
    return { pipeline: [...pipeline, ...paced.pipeline], overload: paced.overload, soak: paced.soak, brokerUrl: broker?.url };
  } finally {
    for (const service of services.reverse()) await service.stop();
  }
}
