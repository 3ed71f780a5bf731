/** `linesight bench` options: defaults, and parsing of the command line (node:util parseArgs). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LinesightError, describeValue } from '../errors.js';
import type { ProviderName } from '../infer/session.js';
import type { Logger } from '../log.js';
import { configSchema, type DecoderScheduling } from '../config/schema.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface BenchOptions {
  /** ONNX model; default models/linesight-defects-v1.onnx, else the squares fixture. */
  model: string;
  /** H.264 clip; default models/demo/conveyor.mp4, else models/demo/squares.mp4. */
  clip: string;
  /** Camera counts for the pipeline runs. */
  cameras: number[];
  /** Length of each pipeline measurement window, s. */
  seconds: number;
  /** Time after every camera's first inspected frame before the window opens, s. */
  warmupSeconds: number;
  decodeSeconds: number;
  sessionSeconds: number;
  providers: ProviderName[];
  /** `model.threads` (intraOpNumThreads); 0 = onnxruntime's default. */
  threads: number;
  /** `model.thread`: the session on a worker thread or on the main thread. */
  thread: 'worker' | 'main';
  /** `ingest.letterbox` of the pipeline runs (and of the decode measurement that sets the bound). */
  letterbox: 'ffmpeg' | 'sharp';
  /** `ingest.decode_threads` of the pipeline's cameras and of the decode measurement (0: ffmpeg's choice). */
  decodeThreads: number;
  /** Experiment: the box's capacity (frames/s) that the load, overload and soak runs offer a share of; null: what file-N (largest N) took. */
  capacity: number | null;
  /** `ingest.decoder_scheduling` of the pipeline's cameras and of the decode measurement. */
  decoderScheduling: DecoderScheduling;
  /** `model.batch_max`. */
  batchMax: number;
  /** `model.sessions`: sessions side by side on worker threads (needs thread worker). */
  sessions: number | 'auto';
  /** Experiment: mosquitto with its default `set_tcp_nodelay false` (Nagle on its PUBACKs). */
  brokerNagle: boolean;
  /** Experiment: RTSP cameras that connect together get their frames at the same instant (the worst case), instead of at spread phases. */
  alignedPhases: boolean;
  /** Experiment: batches in the detector at once; null: what `ingest.letterbox` implies (2 with sharp, 1 with ffmpeg). */
  inFlight: number | null;
  /** Experiment: a session option variant forced on every session, the pipeline's included (`default`: none). */
  sessionVariant: string;
  confidence?: number;
  /** RTSP cameras paced in real time (needs /usr/bin/python3 with GStreamer). */
  rtsp: boolean;
  /** The 80 %-load latency run (RTSP). */
  latency: boolean;
  overload: boolean;
  /**
   * Most paced RTSP cameras a load, overload or soak run opens. Each is an ffmpeg
   * process and an RTSP session; past this the run offers less than wanted and says so.
   */
  maxPacedCameras: number;
  /** Soak duration in seconds; null: no soak. */
  soakSeconds: number | null;
  peer: boolean;
  /** Session option variants, threads 1/2/default, ffmpeg-side letterbox. */
  sweep: boolean;
  /** JSON report path; null: none written. */
  out: string | null;
  log?: Logger;
  onProgress?: (message: string) => void;
}

function firstExisting(...paths: string[]): string {
  return paths.find((p) => existsSync(p)) ?? paths[paths.length - 1];
}

export function defaultOptions(): BenchOptions {
  return {
    model: firstExisting(`${ROOT}models/linesight-defects-v1.onnx`, `${ROOT}test/fixtures/models/squares-v8.onnx`),
    clip: firstExisting(`${ROOT}models/demo/conveyor.mp4`, `${ROOT}models/demo/squares.mp4`),
    cameras: [1, 2, 4],
    seconds: 20,
    warmupSeconds: 3,
    decodeSeconds: 10,
    sessionSeconds: 5,
    providers: ['tensorrt', 'cuda', 'cpu'],
    threads: 0,
    thread: 'worker',
    letterbox: 'ffmpeg',
    decodeThreads: configSchema.shape.ingest.parse(undefined).decode_threads,
    decoderScheduling: configSchema.shape.ingest.parse(undefined).decoder_scheduling,
    capacity: null,
    batchMax: 4,
    sessionVariant: 'default',
    inFlight: null,
    brokerNagle: false,
    alignedPhases: false,
    sessions: 'auto',
    rtsp: true,
    latency: true,
    overload: false,
    maxPacedCameras: 16,
    soakSeconds: null,
    peer: false,
    sweep: false,
    out: 'bench-results/bench.json',
  };
}

function fail(message: string): never {
  throw new LinesightError('E_CLI', message);
}

/** `30m`, `90s`, `1h`, `1800` (seconds) → seconds. */
export function parseDuration(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) fail(`Expected a duration like 90s, 30m or 1h for ${name} but received ${describeValue(text)}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] ?? 's'] as number;
  const seconds = Number(match[1]) * unit;
  if (seconds <= 0) fail(`Expected a positive duration for ${name} but received ${describeValue(text)}`);
  return seconds;
}

function positiveNumber(text: string | undefined, name: string, integer = false): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    fail(`Expected ${integer ? 'an integer' : 'a number'} ≥ 0 for ${name} but received ${describeValue(text)}`);
  }
  return value;
}

function cameraList(text: string): number[] {
  const list = text.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) {
    fail(`Expected a comma-separated list of camera counts like 1,2,4 for --cameras but received ${describeValue(text)}`);
  }
  return list;
}

function providerList(text: string): ProviderName[] {
  const list = text.split(',').map((s) => s.trim());
  for (const p of list) if (p !== 'tensorrt' && p !== 'cuda' && p !== 'cpu') fail(`Expected tensorrt, cuda or cpu in --providers but received ${describeValue(p)}`);
  return list as ProviderName[];
}

export const BENCH_HELP = `Usage: linesight bench [--model FILE] [--clip FILE] [--cameras 1,2,4] [--seconds 20]
                       [--overload] [--soak DURATION] [--peer] [--sweep] [--out FILE]

Measures, in one run on this machine: ffmpeg's decode-only rate on the clip (the
pipeline's flags), the model's raw session rate (batch 1 and the pipeline's batch),
and the whole pipeline with N file cameras (as fast as possible) and N RTSP cameras
(real time), against a real broker (mosquitto when installed). Prints a table and
writes JSON. See BENCHMARKS.md for the method and the bound formula.

  --model FILE       ONNX model (default models/linesight-defects-v1.onnx, else the fixture)
  --clip FILE        H.264 clip (default models/demo/conveyor.mp4, else models/demo/squares.mp4)
  --cameras LIST     camera counts for the pipeline runs (default 1,2,4)
  --seconds N        measurement window of each pipeline run (default 20)
  --warmup N         seconds of warm-up before each window (default 3)
  --overload         also offer about twice what the box can take (latency, drops)
  --capacity FPS     experiment: offer the load, overload and soak runs their share of FPS instead of what
                     file-N took, so two settings are compared at the same offered load
  --max-paced N      most RTSP cameras the load, overload and soak runs open (default 16)
  --soak DURATION    also run N cameras at 80 % load for DURATION (30m, 90s), sampling RSS and latency
  --peer             also run the OpenCV-DNN peer (bench/peer_opencv.py) and report the ratio
  --sweep            also measure session options (threads 1/2/default, spinning, arena,
                     memory pattern) and ffmpeg-side scaling
  --threads N        model.threads for the session and pipeline (default 0: onnxruntime decides)
  --batch-max N      model.batch_max (default 4)
  --thread T         model.thread: worker (default, as the product) or main, where the session runs
  --letterbox L      ingest.letterbox: ffmpeg (default, as the product) or sharp, who letterboxes to the model input
  --decode-threads N ingest.decode_threads: ffmpeg threads per camera (default 1, as the product; 0: ffmpeg's choice)
  --decoder-scheduling S  ingest.decoder_scheduling: batch (default, as the product) or normal, the decoders' Linux policy
  --sessions N|auto  model.sessions: sessions side by side on worker threads (default auto, as the product)
  --broker-nagle     experiment: run mosquitto with its default set_tcp_nodelay false (PUBACKs delayed by Nagle)
  --aligned-phases   experiment: every RTSP camera delivers its frames at the same instant (by default each camera
                     shoots at its own phase of the frame interval, as independent cameras do)
  --in-flight N      experiment: batches in the detector at once (default: 2 with the sharp letterbox, 1 with ffmpeg's)
  --session-variant V  experiment: force session options V (no-spinning, no-mem-pattern, no-arena,
                     opt-basic) on every session, the pipeline's included
  --providers LIST   execution providers to try (default tensorrt,cuda,cpu)
  --no-rtsp          skip the RTSP runs (and the latency, overload and soak runs that use them)
  --out FILE         JSON report (default bench-results/bench.json; '-' for none)`;

/** Parses `linesight bench` arguments into options, or null for --help. */
export function parseBenchArgs(argv: string[]): Partial<BenchOptions> | null {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      model: { type: 'string' },
      clip: { type: 'string' },
      cameras: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      overload: { type: 'boolean' },
      'max-paced': { type: 'string' },
      capacity: { type: 'string' },
      soak: { type: 'string' },
      peer: { type: 'boolean' },
      sweep: { type: 'boolean' },
      threads: { type: 'string' },
      'batch-max': { type: 'string' },
      thread: { type: 'string' },
      letterbox: { type: 'string' },
      'decode-threads': { type: 'string' },
      'decoder-scheduling': { type: 'string' },
      'session-variant': { type: 'string' },
      'in-flight': { type: 'string' },
      'broker-nagle': { type: 'boolean' },
      'aligned-phases': { type: 'boolean' },
      sessions: { type: 'string' },
      providers: { type: 'string' },
      'no-rtsp': { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return null;
  const seconds = positiveNumber(values.seconds, '--seconds');
  const batchMax = positiveNumber(values['batch-max'], '--batch-max', true);
  if (batchMax === 0) fail('Expected an integer ≥ 1 for --batch-max but received 0');
  const inFlight = positiveNumber(values['in-flight'], '--in-flight', true);
  if (inFlight === 0) fail('Expected an integer ≥ 1 for --in-flight but received 0');
  const maxPaced = positiveNumber(values['max-paced'], '--max-paced', true);
  if (maxPaced === 0) fail('Expected an integer ≥ 1 for --max-paced but received 0');
  const capacity = positiveNumber(values.capacity, '--capacity');
  if (capacity === 0) fail('Expected a number of frames/s > 0 for --capacity but received 0');
  const options: Partial<BenchOptions> = {
    ...(values.model === undefined ? {} : { model: values.model }),
    ...(values.clip === undefined ? {} : { clip: values.clip }),
    ...(values.cameras === undefined ? {} : { cameras: cameraList(values.cameras) }),
    ...(seconds === undefined ? {} : { seconds, decodeSeconds: Math.min(10, seconds), sessionSeconds: Math.min(5, seconds) }),
    ...(values.warmup === undefined ? {} : { warmupSeconds: positiveNumber(values.warmup, '--warmup') }),
    ...(values.threads === undefined ? {} : { threads: positiveNumber(values.threads, '--threads', true) }),
    ...(batchMax === undefined ? {} : { batchMax }),
    ...(inFlight === undefined ? {} : { inFlight }),
    ...(maxPaced === undefined ? {} : { maxPacedCameras: maxPaced }),
    ...(capacity === undefined ? {} : { capacity }),
    ...(values.thread === undefined ? {} : { thread: threadPlace(values.thread) }),
    ...(values.letterbox === undefined ? {} : { letterbox: letterboxPlace(values.letterbox) }),
    ...(values['decode-threads'] === undefined ? {} : { decodeThreads: positiveNumber(values['decode-threads'], '--decode-threads', true) }),
    ...(values['decoder-scheduling'] === undefined ? {} : { decoderScheduling: schedulingPolicy(values['decoder-scheduling']) }),
    ...(values.providers === undefined ? {} : { providers: providerList(values.providers) }),
    ...(values['session-variant'] === undefined ? {} : { sessionVariant: values['session-variant'] }),
    ...(values.soak === undefined ? {} : { soakSeconds: parseDuration(values.soak, '--soak') }),
    ...(values['no-rtsp'] ? { rtsp: false } : {}),
    overload: values.overload ?? false,
    brokerNagle: values['broker-nagle'] ?? false,
    alignedPhases: values['aligned-phases'] ?? false,
    ...(values.sessions === undefined ? {} : { sessions: sessionCount(values.sessions) }),
    peer: values.peer ?? false,
    sweep: values.sweep ?? false,
    ...(values.out === undefined ? {} : { out: values.out === '-' ? null : values.out }),
  };
  return options;
}

function sessionCount(text: string): number | 'auto' {
  if (text === 'auto') return text;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) fail(`Expected "auto" or an integer ≥ 1 for --sessions but received ${describeValue(text)}`);
  return n;
}

function letterboxPlace(text: string): 'ffmpeg' | 'sharp' {
  if (text === 'ffmpeg' || text === 'sharp') return text;
  fail(`Expected "ffmpeg" or "sharp" for --letterbox but received ${describeValue(text)}`);
}

function schedulingPolicy(text: string): DecoderScheduling {
  if (text === 'batch' || text === 'normal') return text;
  fail(`Expected "batch" or "normal" for --decoder-scheduling but received ${describeValue(text)}`);
}

function threadPlace(text: string): 'worker' | 'main' {
  if (text === 'worker' || text === 'main') return text;
  fail(`Expected "worker" or "main" for --thread but received ${describeValue(text)}`);
}
