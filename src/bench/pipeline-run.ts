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
  model: { path: string; providers: ProviderName[]; threads: number; thread: 'worker' | 'main'; sessions: number | 'auto'; batchMax: number; confidence?: number };
  /** `ingest.letterbox`. */
  letterbox: 'ffmpeg' | 'sharp';
  decodeThreads: number;
  decoderScheduling: DecoderScheduling;
  /** Experiment: batches in the detector at once; null: what the letterbox implies. */
  inFlight: number | null;
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
    ingest: { letterbox: spec.letterbox, decode_threads: spec.decodeThreads, decoder_scheduling: spec.decoderScheduling },
    model: {
      path: spec.model.path,
      providers: spec.model.providers,
      threads: spec.model.threads,
      thread: spec.model.thread,
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
  const dropped: DropCounts = { superseded: 0, bad_frame: 0, shutdown: 0 };
  let received = 0;
  let inspected = 0;
  let restarts = 0;
  for (const s of snaps) {
    received += s.framesReceived;
    inspected += s.framesInspected;
    restarts += s.restarts;
    for (const k of Object.keys(dropped) as Array<keyof DropCounts>) dropped[k] += s.framesDropped[k];
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

export async function runPipeline(spec: PipelineSpec): Promise<PipelineResult> {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-bench-'));
  let line: Line | undefined;
  try {
    line = await startLine(await configFor(spec, dir), spec.log, {
      publisherTuning: { embeddedHost: '127.0.0.1' },
      ...(spec.inFlight === null ? {} : { inFlight: spec.inFlight }),
    });
    const live = line;
    let windowStart = Infinity;
    let windowEnd = Infinity;
    const latencies: number[] = [];
    const calls: number[] = [];
    const waits: number[] = [];
    const lags = new Map<string, number[]>();
    let batches = 0;
    let interval: number[] = [];
    live.onInspected((result: InspectedFrame) => {
      if (result.inferredAt < windowStart || result.inferredAt > windowEnd) return;
      const ms = result.inferredAt - result.frame.captureTs;
      latencies.push(ms);
      calls.push(result.inferMs);
      waits.push(Math.max(0, ms - result.inferMs)); // a whole-ms clock against a fine one: never below 0
      interval.push(ms);
      if (spec.source === 'rtsp' && result.frame.mediaTs !== undefined) {
        const camera = lags.get(result.frame.camera) ?? [];
        camera.push(result.frame.captureTs - result.frame.mediaTs);
        lags.set(result.frame.camera, camera);
      }
      batches += 1 / result.batchSize;
    });

    await waitForAllInspected(live, 60_000);
    await sleep(spec.warmupSeconds * 1000);

    const before = totals(live.cameras());
    const sampler = new ProcessSampler(spec.exclude);
    windowStart = Date.now();
    const t0 = performance.now();
    if (spec.intervalS && spec.onSample) {
      const every = spec.intervalS * 1000;
      let last = totals(live.cameras()).inspected;
      for (let at = every; at <= spec.seconds * 1000; at += every) {
        await sleep(Math.max(0, t0 + at - performance.now()));
        const now = totals(live.cameras()).inspected;
        const lat = percentiles(interval);
        interval = [];
        spec.onSample({
          atS: round(at / 1000, 1),
          selfRssMb: round(rssMb()),
          childrenRssMb: round(childrenRssMb(spec.exclude())),
          heapUsedMb: round(process.memoryUsage().heapUsed / 2 ** 20),
          fps: round((now - last) / spec.intervalS),
          inferLatencyP50: lat.p50,
          inferLatencyP99: lat.p99,
        });
        last = now;
      }
    }
    await sleep(Math.max(0, t0 + spec.seconds * 1000 - performance.now()));
    windowEnd = Date.now();
    const after = totals(live.cameras());
    const usage = sampler.finish();
    const seconds = usage.wallMs / 1000;

    // Alerts confirmed in the window: wait for their PUBACKs (the outbox empties), then read `sent_at`.
    const drainBy = Date.now() + 10_000;
    while (live.store.depth() > 0 && Date.now() < drainBy) await sleep(50);
    const alerts = live.store.recentAlerts({ limit: 1_000_000, since: windowStart }).filter((a) => a.ts <= windowEnd && a.sentAt !== undefined);
    const puback = alerts.map((a) => (a.sentAt as number) - a.ts);

    const inspected = after.inspected - before.inspected;
    const fps = inspected / seconds;
    const dropped = { ...after.dropped };
    for (const k of Object.keys(dropped) as Array<keyof DropCounts>) dropped[k] -= before.dropped[k];
    const cpuMs = usage.selfCpuMs + usage.childrenCpuMs;
    const otherBusyPct = Math.max(0, (usage.machineBusyMs - cpuMs) / usage.wallMs) * 100;
    const bound = withAvailableCores(spec.bound, spec.cores, otherBusyPct);
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
      inferLatencyMs: percentiles(latencies),
      callMs: percentiles(calls),
      waitMs: percentiles(waits),
      arrivalDelayMs: percentiles([...lags.values()].flatMap(delaysBeyondQuickest)),
      pubackLatencyMs: percentiles(puback),
      alerts: alerts.length,
      meanBatch: batches > 0 ? round(latencies.length / batches) : 0,
      cpuPct: round((cpuMs / usage.wallMs) * 100, 1),
      cpuSelfPct: round((usage.selfCpuMs / usage.wallMs) * 100, 1),
      cpuChildrenPct: round((usage.childrenCpuMs / usage.wallMs) * 100, 1),
      machineBusyPct: round((usage.machineBusyMs / usage.wallMs) * 100, 1),
      otherBusyPct: round(otherBusyPct, 1),
      peakRss: { selfMb: round(usage.selfPeakMb), childrenMb: round(usage.childrenPeakMb), totalMb: round(usage.selfPeakMb + usage.childrenPeakMb) },
      restarts: after.restarts - before.restarts,
    };
  } finally {
    await line?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
