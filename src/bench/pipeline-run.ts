/**
 * (3) The whole pipeline: `startLine` with N cameras on the clip (files as fast
 * as possible, or the RTSP server in real time), a real broker, a real SQLite
 * file. Counters and latencies are taken over a window that opens once every
 * camera has had a frame inspected and a warm-up has passed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLine, type Line } from '../app.js';
import { validateConfig } from '../config/load.js';
import type { DecoderScheduling } from '../config/schema.js';
import { LinesightError } from '../errors.js';
import type { ProviderName } from '../infer/session.js';
import type { Logger } from '../log.js';
import type { CameraSnapshot, InspectedFrame } from '../types.js';
import { withAvailableCores } from './bound.js';
import { descendants, ProcessSampler, rssMb } from './proc-stats.js';
import { freePort } from './services.js';
import { percentiles, round } from './stats.js';
import type { Bound, DropCounts, PipelineResult, SoakSample } from './report.js';

export interface PipelineSpec {
  label: string;
  source: 'file' | 'rtsp';
  /** Clip path (file cameras) or RTSP URL. */
  url: string;
  cameras: number;
  cameraFps: number;
  seconds: number;
  warmupSeconds: number;
  model: { path: string; providers: ProviderName[]; threads: number; sessions: number | 'auto'; batchMax: number; confidence?: number };
  /** `ingest.decode_threads`. */
  decodeThreads: number;
  /** `ingest.decoder_scheduling`. */
  decoderScheduling: DecoderScheduling;
  /** External broker URL; none starts linesight's embedded broker. */
  mqttUrl?: string;
  /** The bound for this run, given the batch size the scheduler aims for. */
  bound: Bound;
  cores: number;
  /** Pids (with their children) that are not the pipeline: broker, RTSP server. */
  exclude: () => ReadonlySet<number>;
  log: Logger;
  /** Soak: called every `intervalS` during the window. */
  intervalS?: number;
  onSample?: (sample: SoakSample) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const DROP_REASONS = ['superseded', 'bad_frame', 'inference_error', 'shutdown'] as const satisfies ReadonlyArray<keyof DropCounts>;

async function configFor(spec: PipelineSpec, dir: string) {
  const cameras = Array.from({ length: spec.cameras }, (_, i) => ({
    id: `cam${i + 1}`,
    url: spec.url,
    fps: spec.cameraFps,
    ...(spec.source === 'file' ? { realtime: false, loop: true } : {}),
  }));
  const mqtt = spec.mqttUrl ? { url: spec.mqttUrl } : { embedded_port: await freePort() };
  const { config, problems } = validateConfig({
    site: 'bench',
    line: spec.label.replace(/[^A-Za-z0-9_.-]/g, '-'),
    cameras,
    ingest: { decode_threads: spec.decodeThreads, decoder_scheduling: spec.decoderScheduling },
    model: {
      path: spec.model.path,
      providers: spec.model.providers,
      threads: spec.model.threads,
      sessions: spec.model.sessions,
      batch_max: spec.model.batchMax,
      ...(spec.model.confidence === undefined ? {} : { confidence: spec.model.confidence }),
    },
    mqtt,
    store: { path: join(dir, 'bench.db') },
    // The operator page runs as in production, on a free loopback port, with no viewer.
    overlay: { host: '127.0.0.1', port: 0 },
    sync: { dir: join(dir, 'sync') },
    log: { level: 'warn' },
  });
  if (!config) {
    throw new LinesightError('E_CONFIG', `bench built an invalid config: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
  return config;
}

function totals(snaps: CameraSnapshot[]): { received: number; inspected: number; dropped: DropCounts; restarts: number } {
  const dropped: DropCounts = { superseded: 0, bad_frame: 0, inference_error: 0, shutdown: 0 };
  let received = 0;
  let inspected = 0;
  let restarts = 0;
  for (const s of snaps) {
    received += s.framesReceived;
    inspected += s.framesInspected;
    restarts += s.restarts;
    for (const k of DROP_REASONS) dropped[k] += s.framesDropped[k];
  }
  return { received, inspected, dropped, restarts };
}

async function waitForAllInspected(line: Line, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!line.cameras().every((c) => c.framesInspected > 0)) {
    if (Date.now() > deadline) {
      const states = line.cameras().map((c) => `${c.id}: ${c.state}${c.lastError ? ` (${c.lastError.code}: ${c.lastError.message})` : ''}`);
      throw new LinesightError('E_CAMERA_STALL', `Expected every bench camera to deliver an inspected frame within ${timeoutMs / 1000} s but not all did: ${states.join('; ')}`);
    }
    await sleep(100);
  }
}

function childrenRssMb(exclude: ReadonlySet<number>): number {
  return descendants(process.pid, exclude).reduce((sum, pid) => sum + rssMb(pid), 0);
}

/**
 * A paced camera's frames' arrival lag behind their place in the stream
 * (`captureTs - mediaTs`), less the smallest lag of the window: how much
 * longer than its quickest frame each frame took from the network to
 * linesight, i.e. decoding plus waiting for a core. Capture→inferred starts at
 * arrival and does not see this wait; the anchor of the stream's clock cancels out.
 */
function delaysBeyondQuickest(lags: readonly number[]): number[] {
  const quickest = lags.reduce((a, b) => Math.min(a, b), Infinity); // not Math.min(...lags): a long soak has more frames than a call takes arguments
  return lags.map((lag) => lag - quickest);
}

/** What the bench collects from every inspected frame inside the window. */
class WindowObserver {
  start = Infinity;
  end = Infinity;
  readonly latencies: number[] = [];
  readonly calls: number[] = [];
  readonly waits: number[] = [];
  /** Per camera, each frame's arrival lag behind its place in the stream (paced runs). */
  readonly lags = new Map<string, number[]>();
  batches = 0;
  /** Latencies since the last soak sample. */
  interval: number[] = [];

  constructor(private readonly paced: boolean) {}

  readonly onInspected = (result: InspectedFrame): void => {
    if (result.inferredAt < this.start || result.inferredAt > this.end) return;
    const ms = result.inferredAt - result.frame.captureTs;
    this.latencies.push(ms);
    this.calls.push(result.inferMs);
    this.waits.push(Math.max(0, ms - result.inferMs)); // a whole-ms clock against a fine one: never below 0
    this.interval.push(ms);
    if (this.paced && result.frame.mediaTs !== undefined) {
      const camera = this.lags.get(result.frame.camera) ?? [];
      camera.push(result.frame.captureTs - result.frame.mediaTs);
      this.lags.set(result.frame.camera, camera);
    }
    this.batches += 1 / result.batchSize;
  };
}

/** Soak: a sample every `intervalS` until the window's end. */
async function sampleWindow(line: Line, spec: PipelineSpec, observer: WindowObserver, t0: number, onSample: (sample: SoakSample) => void, intervalS: number): Promise<void> {
  const every = intervalS * 1000;
  let last = totals(line.cameras()).inspected;
  for (let at = every; at <= spec.seconds * 1000; at += every) {
    await sleep(Math.max(0, t0 + at - performance.now()));
    const now = totals(line.cameras()).inspected;
    const lat = percentiles(observer.interval);
    observer.interval = [];
    onSample({
      atS: round(at / 1000, 1),
      selfRssMb: round(rssMb()),
      childrenRssMb: round(childrenRssMb(spec.exclude())),
      heapUsedMb: round(process.memoryUsage().heapUsed / 2 ** 20),
      fps: round((now - last) / intervalS),
      inferLatencyP50: lat.p50,
      inferLatencyP99: lat.p99,
    });
    last = now;
  }
}

/** Alerts confirmed in the window: waits for their PUBACKs (the outbox empties), then reads `sent_at`. */
async function pubackLatencies(line: Line, observer: WindowObserver): Promise<number[]> {
  const drainBy = Date.now() + 10_000;
  while (line.store.depth() > 0 && Date.now() < drainBy) await sleep(50);
  const latencies: number[] = [];
  for (const a of line.store.recentAlerts({ limit: 1_000_000, since: observer.start })) {
    if (a.ts <= observer.end && a.sentAt !== undefined) latencies.push(a.sentAt - a.ts);
  }
  return latencies;
}

type Usage = ReturnType<ProcessSampler['finish']>;
type Totals = ReturnType<typeof totals>;

function pipelineResult(spec: PipelineSpec, before: Totals, after: Totals, usage: Usage, observer: WindowObserver, puback: number[]): PipelineResult {
  const seconds = usage.wallMs / 1000;
  const inspected = after.inspected - before.inspected;
  const fps = inspected / seconds;
  const dropped = { ...after.dropped };
  for (const k of DROP_REASONS) dropped[k] -= before.dropped[k];
  const cpuMs = usage.selfCpuMs + usage.childrenCpuMs;
  const otherBusyPct = Math.max(0, (usage.machineBusyMs - cpuMs) / usage.wallMs) * 100;
  const bound = withAvailableCores(spec.bound, spec.cores, otherBusyPct);
  const pct = (ms: number) => round((ms / usage.wallMs) * 100, 1);
  return {
    label: spec.label,
    source: spec.source,
    cameras: spec.cameras,
    cameraFps: spec.cameraFps,
    batchMax: spec.model.batchMax,
    seconds: round(seconds, 3),
    framesReceived: after.received - before.received,
    framesInspected: inspected,
    fps: round(fps),
    receivedFps: round((after.received - before.received) / seconds),
    bound,
    ratio: round(fps / bound.fps, 3),
    ratioAvailable: round(fps / (bound.availableFps ?? bound.fps), 3),
    dropped,
    inferLatencyMs: percentiles(observer.latencies),
    callMs: percentiles(observer.calls),
    waitMs: percentiles(observer.waits),
    arrivalDelayMs: percentiles([...observer.lags.values()].flatMap(delaysBeyondQuickest)),
    pubackLatencyMs: percentiles(puback),
    alerts: puback.length,
    meanBatch: observer.batches > 0 ? round(observer.latencies.length / observer.batches) : 0,
    cpuPct: pct(cpuMs),
    cpuSelfPct: pct(usage.selfCpuMs),
    cpuChildrenPct: pct(usage.childrenCpuMs),
    machineBusyPct: pct(usage.machineBusyMs),
    otherBusyPct: round(otherBusyPct, 1),
    peakRss: { selfMb: round(usage.selfPeakMb), childrenMb: round(usage.childrenPeakMb), totalMb: round(usage.selfPeakMb + usage.childrenPeakMb) },
    restarts: after.restarts - before.restarts,
  };
}

export async function runPipeline(spec: PipelineSpec): Promise<PipelineResult> {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-bench-'));
  let line: Line | undefined;
  try {
    line = await startLine(await configFor(spec, dir), spec.log, { publisherTuning: { embeddedHost: '127.0.0.1' } });
    const observer = new WindowObserver(spec.source === 'rtsp');
    line.onInspected(observer.onInspected);
    await waitForAllInspected(line, 60_000);
    await sleep(spec.warmupSeconds * 1000);

    const before = totals(line.cameras());
    const sampler = new ProcessSampler(spec.exclude);
    observer.start = Date.now();
    const t0 = performance.now();
    if (spec.intervalS && spec.onSample) await sampleWindow(line, spec, observer, t0, spec.onSample, spec.intervalS);
    await sleep(Math.max(0, t0 + spec.seconds * 1000 - performance.now()));
    observer.end = Date.now();
    const after = totals(line.cameras());
    const usage = sampler.finish();
    return pipelineResult(spec, before, after, usage, observer, await pubackLatencies(line, observer));
  } finally {
    await line?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
