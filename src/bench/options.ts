/** `linesight bench` options: defaults, and parsing of the command line (node:util parseArgs). */
import { existsSync, statSync } from 'node:fs';
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
  /** `--model` given more than once: every model, the first being `model`, benched in turn and compared to the first. */
  models?: string[];
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
  /** `ingest.decode_threads` of the pipeline's cameras and of the decode measurement (0: ffmpeg's choice). */
  decodeThreads: number;
  /** `ingest.decoder_scheduling` of the pipeline's cameras and of the decode measurement. */
  decoderScheduling: DecoderScheduling;
  /** `model.batch_max`. */
  batchMax: number;
  /** `model.sessions`: sessions side by side on worker threads. */
  sessions: number | 'auto';
  confidence?: number;
  /** RTSP cameras paced in real time (needs /usr/bin/python3 with GStreamer's RTSP server). */
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
  /** JSON report path; null: none written. */
  out: string | null;
  log?: Logger;
  onProgress?: (message: string) => void;
}

function firstExisting(...paths: string[]): string {
  return paths.find((p) => existsSync(p)) ?? paths[paths.length - 1];
}

export function defaultOptions(): BenchOptions {
  const ingest = configSchema.shape.ingest.parse(undefined);
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
    decodeThreads: ingest.decode_threads,
    decoderScheduling: ingest.decoder_scheduling,
    batchMax: 4,
    sessions: 'auto',
    rtsp: true,
    latency: true,
    overload: false,
    maxPacedCameras: 16,
    soakSeconds: null,
    peer: false,
    out: 'bench-results/bench.json',
  };
}

function fail(message: string): never {
  throw new LinesightError('E_CLI', message);
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** `30m`, `90s`, `1h`, `1800` (seconds) → seconds. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) fail(`Expected a duration like 90s, 30m or 1h for ${flag} but received ${describeValue(text)}`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] ?? 's'];
  if (seconds <= 0) fail(`Expected a positive duration for ${flag} but received ${describeValue(text)}`);
  return seconds;
}

/** A plain decimal number of seconds (no sign, exponent or hex), > 0 unless `zero` is allowed. */
function secondsValue(text: string, flag: string, zero: boolean): number {
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(value > 0 || (zero && value === 0))) fail(`Expected a number of seconds ${zero ? '≥ 0' : '> 0'} for ${flag} but received ${describeValue(text)}`);
  return value;
}

/** A plain decimal integer ≥ `min`; `also` names what else the flag takes, for the message. */
function integerValue(text: string, flag: string, min: number, also = ''): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) fail(`Expected ${also}an integer ≥ ${min} for ${flag} but received ${describeValue(text)}`);
  return value;
}

function cameraList(text: string, flag: string): number[] {
  const items = text.split(',').map((s) => s.trim());
  if (!items.every((s) => /^\d+$/.test(s) && Number(s) >= 1)) {
    fail(`Expected a comma-separated list of camera counts ≥ 1 like 1,2,4 for ${flag} but received ${describeValue(text)}`);
  }
  return items.map(Number);
}

const PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const satisfies readonly ProviderName[];
const isProvider = (s: string): s is ProviderName => PROVIDERS.some((p) => p === s);

function providerList(text: string, flag: string): ProviderName[] {
  const items = text.split(',').map((s) => s.trim());
  const list = items.filter(isProvider);
  if (list.length !== items.length || new Set(list).size !== list.length) {
    fail(`Expected a comma-separated list of distinct providers among ${PROVIDERS.join(', ')} for ${flag} but received ${describeValue(text)}`);
  }
  return list;
}

const SCHEDULINGS = ['batch', 'normal'] as const satisfies readonly DecoderScheduling[];

function scheduling(text: string, flag: string): DecoderScheduling {
  const policy = SCHEDULINGS.find((s) => s === text);
  if (policy === undefined) fail(`Expected ${SCHEDULINGS.map((s) => `"${s}"`).join(' or ')} for ${flag} but received ${describeValue(text)}`);
  return policy;
}

function existingFile(text: string, flag: string, what: string): string {
  if (text === '' || !existsSync(text) || !statSync(text).isFile()) fail(`Expected ${what} file for ${flag} but there is no file at ${describeValue(text)}`);
  return text;
}

function outPath(text: string, flag: string): string | null {
  if (text === '') fail(`Expected a file path (or - for none) for ${flag} but received ${describeValue(text)}`);
  return text === '-' ? null : text;
}

type Parsed = Partial<BenchOptions>;

/** `--model A [--model B …]`: the first is the bench's model, all of them are compared when there are several. */
function modelList(texts: string[], flag: string): Parsed {
  const models = texts.map((t) => existingFile(t, flag, 'an ONNX model'));
  return models.length > 1 ? { model: models[0], models } : { model: models[0] };
}

/** What each flag that takes a value sets, its value validated. */
const VALUE_FLAGS: Readonly<Record<string, (text: string, flag: string) => Parsed>> = {
  clip: (t, f) => ({ clip: existingFile(t, f, 'a video') }),
  cameras: (t, f) => ({ cameras: cameraList(t, f) }),
  seconds: (t, f) => {
    const seconds = secondsValue(t, f, false);
    return { seconds, decodeSeconds: Math.min(10, seconds), sessionSeconds: Math.min(5, seconds) };
  },
  warmup: (t, f) => ({ warmupSeconds: secondsValue(t, f, true) }),
  'max-paced': (t, f) => ({ maxPacedCameras: integerValue(t, f, 1) }),
  soak: (t, f) => ({ soakSeconds: parseDuration(t, f) }),
  threads: (t, f) => ({ threads: integerValue(t, f, 0) }),
  'batch-max': (t, f) => ({ batchMax: integerValue(t, f, 1) }),
  'decode-threads': (t, f) => ({ decodeThreads: integerValue(t, f, 0) }),
  'decoder-scheduling': (t, f) => ({ decoderScheduling: scheduling(t, f) }),
  sessions: (t, f) => ({ sessions: t === 'auto' ? 'auto' : integerValue(t, f, 1, '"auto" or ') }),
  providers: (t, f) => ({ providers: providerList(t, f) }),
  out: (t, f) => ({ out: outPath(t, f) }),
};

/** What each switch sets. */
const SWITCHES: Readonly<Record<string, Parsed>> = {
  overload: { overload: true },
  peer: { peer: true },
  'no-rtsp': { rtsp: false },
};

export const BENCH_HELP = `Usage: linesight bench [--model FILE] [--clip FILE] [--cameras 1,2,4] [--seconds 20]
                       [--overload] [--soak DURATION] [--peer] [--out FILE]

Measures, in one run on this machine: ffmpeg's decode-only rate on the clip (the
pipeline's arguments: letterboxed to the model input), the model's raw session
rate on the pipeline's worker threads (batch 1 and the pipeline's batch), and the
whole pipeline with N file cameras (as fast as possible) and N RTSP cameras (real
time), against a real broker (mosquitto when installed). Prints a table and
writes JSON. See BENCHMARKS.md for the method and the bound formula.

  --model FILE       ONNX model (default models/linesight-defects-v1.onnx, else the fixture); given
                     more than once, each model is benched in turn and the rates compared to the first
  --clip FILE        H.264 clip (default models/demo/conveyor.mp4, else models/demo/squares.mp4)
  --cameras LIST     camera counts for the pipeline runs (default 1,2,4)
  --seconds N        measurement window of each pipeline run (default 20)
  --warmup N         seconds of warm-up before each window (default 3)
  --overload         also offer about twice what the box can take (latency, drops)
  --max-paced N      most RTSP cameras the load, overload and soak runs open (default 16)
  --soak DURATION    also run N cameras at 80 % load for DURATION (30m, 90s), sampling RSS and latency
  --peer             also run the OpenCV-DNN peer (src/bench/peer_opencv.py) and report the ratio
  --threads N        model.threads for the session and pipeline (default 0: onnxruntime decides)
  --batch-max N      model.batch_max (default 4)
  --sessions N|auto  model.sessions: sessions side by side on worker threads (default auto, as the product)
  --decode-threads N ingest.decode_threads: ffmpeg threads per camera (default 1, as the product; 0: ffmpeg's choice)
  --decoder-scheduling S  ingest.decoder_scheduling: batch (default, as the product) or normal, the decoders' Linux policy
  --providers LIST   execution providers to try (default tensorrt,cuda,cpu)
  --no-rtsp          skip the RTSP runs (and the latency, overload and soak runs that use them)
  --out FILE         JSON report (default bench-results/bench.json; '-' for none)

The RTSP runs need Debian's /usr/bin/python3 with GStreamer's RTSP server
(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad); without them the bench runs file cameras only and
says so. The peer needs python3-opencv and python3-onnx.`;

/** parseArgs' own errors (unknown flag, missing value, stray argument) as E_CLI errors that name the argument. */
function cliError(err: unknown): unknown {
  if (!(err instanceof TypeError) || !('code' in err) || typeof err.code !== 'string' || !err.code.startsWith('ERR_PARSE_ARGS')) return err;
  const unknown = /^Unknown option '([^']+)'/.exec(err.message)?.[1];
  if (unknown !== undefined) return new LinesightError('E_CLI', `Expected an option listed by linesight bench --help but received ${unknown}`);
  const missing = /^Option '(-[^ ']+)[^']*' argument missing/.exec(err.message)?.[1];
  if (missing !== undefined) return new LinesightError('E_CLI', `Expected a value after ${missing} but received none`);
  return new LinesightError('E_CLI', `${err.message} (see linesight bench --help)`);
}

/** Parses `linesight bench` arguments into options, or null for --help. Throws LinesightError E_CLI naming the flag on a bad one. */
export function parseBenchArgs(argv: string[]): Parsed | null {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(Object.keys(VALUE_FLAGS).map((name) => [name, { type: 'string' as const }])),
        ...Object.fromEntries(Object.keys(SWITCHES).map((name) => [name, { type: 'boolean' as const }])),
        model: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw cliError(err);
  }
  if (values.help === true) return null;
  const options: Parsed = {};
  for (const [name, value] of Object.entries(values)) {
    const flag = `--${name}`;
    if (name === 'model' && Array.isArray(value)) Object.assign(options, modelList(value.map(String), flag));
    else if (Object.hasOwn(VALUE_FLAGS, name) && typeof value === 'string') Object.assign(options, VALUE_FLAGS[name](value, flag));
    else if (Object.hasOwn(SWITCHES, name) && value === true) Object.assign(options, SWITCHES[name]);
  }
  return options;
}
