import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { CameraConfig, DecoderScheduling, IngestConfig } from '../config/schema.js';
import { errorMessage, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { CameraError, CameraSnapshot, CameraState, DropReason, Frame } from '../types.js';
import { Backoff } from './backoff.js';
import { inputOptions, letterboxFilterGraph, letterboxOutputOptions, outputOptions, sourceKind, type LetterboxPlan } from './ffmpeg-args.js';
import { classifyStderr, isFrameTimeLine, LineRing, parseDecodedSize, parseFrameTime, parseFrameTimeBase, redactUrl } from './ffmpeg-stderr.js';
import { FrameAssembler } from './frame-assembler.js';
import { FrameClock } from './frame-clock.js';
import { closeChannel, openFrameChannel, spawnOnChannels, type FrameChannel, type ReadSink } from './frame-channel.js';
import { adaptArgsToFfmpeg, hwaccelInputArgs, hwaccelPreFilter, probeFfmpegVersion, type FfmpegVersion } from './hwaccel.js';
import { InputPool } from './input-pool.js';
import { PicturePool } from './picture-pool.js';
import { RateMeter } from './rate-meter.js';

/** Frames after which a run without a single frame time from ffmpeg is worth a warning. */
const NO_TIMES_AFTER = 50;

/** Longest wait, once ffmpeg has exited, for the rest of its frames on the channels. */
const CHANNEL_DRAIN_MS = 2000;

/**
 * Full-size pictures a letterboxing camera keeps (`PicturePool`, plus the buffer
 * being filled): about a second of views at the preview rate, which covers every
 * frame an alert can still take its thumbnail from (the recent inspected frames,
 * those waiting for their picture).
 */
export const PICTURES_KEPT = 8;

/** Idle model-input buffers a letterboxing camera keeps for reuse: more than its frames in flight (one waiting, one held, one or two inferring). */
const INPUTS_KEPT = 4;

/** ffmpeg started through a wrapper that ties it to this process (see bin/ffmpeg-tethered). */
export const TETHERED_FFMPEG = fileURLToPath(new URL('../../bin/ffmpeg-tethered', import.meta.url));

/** How bin/ffmpeg-tethered's own lines on ffmpeg's stderr begin. */
const TETHER_NOTICE = 'ffmpeg-tethered: ';

/** What bin/ffmpeg-tethered is told, besides the arguments: the decoder's scheduling policy (`ingest.decoder_scheduling`). */
export function tetheredEnv(scheduling: DecoderScheduling): Record<string, string> {
  return { LINESIGHT_FFMPEG_SCHED: scheduling };
}

export interface CameraEvents {
  frame: [Frame];
  /** With ffmpeg letterboxing: a frame already handed on got its full-size picture (`rgb`). */
  picture: [Frame];
  state: [CameraState, CameraState];
}

/** What the rest of the pipeline sees of a camera. */
export interface FrameSource extends EventEmitter<CameraEvents> {
  readonly id: string;
  start(): void;
  stop(): Promise<void>;
  snapshot(): CameraSnapshot;
  /** Counted by later stages (inference), reported with the camera. */
  countInspected(n?: number): void;
  countDropped(reason: DropReason, n?: number): void;
  /** A later stage is done with the frame's model input (inferred or dropped): its buffer may be reused. */
  release(frame: Frame): void;
  /** The running ffmpeg's pid, if any (tests and diagnostics). */
  readonly pid: number | undefined;
}

interface Failure {
  code: ErrorCode;
  message: string;
}

const KILL_GRACE_MS = 2000;

let ffmpegVersion: FfmpegVersion | undefined | null = null;
/** The ffmpeg in use, probed once per process: NVIDIA's Jetson build (4.2) needs older flag names. */
function installedFfmpeg(): FfmpegVersion | undefined {
  if (ffmpegVersion === null) ffmpegVersion = probeFfmpegVersion();
  return ffmpegVersion;
}
const MIN_RETRY_MS = 200;

/**
 * A camera's whole ffmpeg command line: input options with its hardware-decode
 * preset, `-i URL`, then either full-size RGB24 frames on stdout or (with
 * `letterbox`) the model input on stdout and every k-th frame at full size on
 * fd 3; adapted to the installed ffmpeg. The bench's decode-only measurement
 * uses the same composition.
 */
export function cameraFfmpegArgs(
  cfg: Pick<CameraConfig, 'url' | 'transport' | 'realtime' | 'loop' | 'fps' | 'hwaccel' | 'codec'>,
  letterbox?: LetterboxPlan,
  threads = 0,
): string[] {
  // `ingest.decode_threads`: 0 leaves ffmpeg's default (frame threads per core, filter threads per core).
  const threading = threads > 0 ? ['-threads', String(threads), ...(letterbox ? ['-filter_complex_threads', String(threads)] : [])] : [];
  const input = [...inputOptions(cfg), ...threading, ...hwaccelInputArgs(cfg.hwaccel, cfg.url, { codec: cfg.codec }), '-i', cfg.url];
  const output = letterbox
    ? ['-filter_complex', letterboxFilterGraph(cfg.fps, letterbox, hwaccelPreFilter(cfg.hwaccel)), ...letterboxOutputOptions()]
    : [...outputOptions(cfg, hwaccelPreFilter(cfg.hwaccel)), 'pipe:1'];
  return adaptArgsToFfmpeg([...input, ...output], installedFfmpeg());
}

export interface CameraOptions {
  /**
   * For a file replayed as fast as possible (`realtime: false`): once a frame
   * waits for the consumer, keep the next one decoded behind it and stop reading
   * ffmpeg until the consumer takes the waiting frame (`taken`).
   * ffmpeg then blocks on the pipe instead of decoding frames that would be
   * dropped as superseded. Live cameras are never held back: their old frames
   * must be dropped, not queued.
   */
  flowControl?: boolean;
  /**
   * ffmpeg letterboxes the frames to the model input (`Frame.input`), which
   * keeps full-size frames off the pipe: those come only on every
   * `viewEvery`-th frame (`Frame.rgb`), for the operator's video and alert
   * thumbnails. Without it every frame comes at full size and the inference
   * stage letterboxes it.
   */
  letterbox?: LetterboxPlan;
}

/**
 * One camera: one ffmpeg child decoding to RGB24 on stdout (full size, or the
 * model input with full-size views on fd 3), cut into frames.
 * Restarts forever with capped exponential backoff and full jitter when the
 * stream fails, stalls or changes resolution; a failure is logged once at warn
 * with ffmpeg's own cause, and the recovery once at info.
 */
export class Camera extends EventEmitter<CameraEvents> implements FrameSource {
  readonly id: string;
  private readonly cfg: CameraConfig;
  private readonly stallMs: number;
  private readonly startMs: number;
  private readonly stableMs: number;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private readonly stderr = new LineRing(40);
  private readonly rate = new RateMeter(5000);
  private readonly flowControl: boolean;
  private readonly asFastAsPossible: boolean;
  private readonly letterbox?: LetterboxPlan;
  /** Each frame's place in the stream (`Frame.mediaTs`), from ffmpeg's report of its timestamp. */
  private readonly clock: FrameClock;
  /** ms per unit of ffmpeg's frame timestamps (this run; NaN until ffmpeg says). */
  private frameTimeBase = NaN;
  /** Frame times ffmpeg reported in this run, and whether their absence was logged (once per camera). */
  private runTimes = 0;
  private warnedNoTimes = false;

  private state: CameraState = 'stopped';
  private child: ChildProcess | null = null;
  /** stdout: full-size frames, or the model input with `letterbox`. */
  private assembler: FrameAssembler | null = null;
  /** fd 3 with `letterbox`: the full-size views. */
  private viewAssembler: FrameAssembler | null = null;
  /** The views' buffers, reused in turn. */
  private pictures: PicturePool | null = null;
  /** The model inputs' buffers (shared memory), back from the scheduler when it is done with a frame. */
  private inputs: InputPool | null = null;
  /** Bytes that came before ffmpeg said the decoded size, per pipe. */
  private early: { out: Buffer[]; view: Buffer[] } = { out: [], view: [] };
  /** Frames handed on whose full-size picture has not come yet (it is attached when it does, and `picture` emitted). */
  private awaiting: Frame[] = [];
  /** Pictures that came before their frame. */
  private views: Buffer[] = [];
  /** Frames of the running decoder (for pairing times and views). */
  private runFrames = 0;
  private pipes: Readable[] = [];
  /** Flow control: a frame handed over and not yet taken by the consumer, and the one decoded behind it. */
  private waiting = false;
  private held: Frame | null = null;
  private width?: number;
  private height?: number;
  private stallTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private onlineSince = 0;
  private generation = 0;
  private stopping = false;
  private lastLoggedFailure = '';

  private framesReceived = 0;
  private framesInspected = 0;
  private readonly framesDropped: Record<DropReason, number> = { superseded: 0, bad_frame: 0, shutdown: 0 };
  private restarts = 0;
  private readonly decodeThreads: number;
  private readonly decoderScheduling: DecoderScheduling;
  private readonly tetherNoticed = new Set<string>();
  private lastFrameTs?: number;
  private lastError?: CameraError;

  constructor(cfg: CameraConfig, ingest: IngestConfig, log: Logger, options: CameraOptions = {}) {
    super();
    this.id = cfg.id;
    this.cfg = cfg;
    this.asFastAsPossible = sourceKind(cfg.url) === 'file' && !cfg.realtime;
    this.flowControl = (options.flowControl ?? false) && this.asFastAsPossible;
    this.letterbox = options.letterbox;
    this.clock = new FrameClock(cfg.fps, !this.asFastAsPossible);
    this.stallMs = (cfg.stall_timeout ?? ingest.stall_timeout) * 1000;
    // Slow cameras need longer to their first frame than between frames (Frigate #11041).
    this.startMs = Math.max(this.stallMs, (cfg.start_timeout ?? ingest.start_timeout) * 1000);
    this.stableMs = ingest.stable_after * 1000;
    this.decodeThreads = ingest.decode_threads;
    this.decoderScheduling = ingest.decoder_scheduling;
    this.backoff = new Backoff(ingest.backoff_initial * 1000, ingest.backoff_max * 1000);
    this.log = log.child({ stage: 'ingest', camera: cfg.id });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.state !== 'stopped') return;
    this.stopping = false;
    this.setState('connecting');
    this.log.info({ url: redactUrl(this.cfg.url), fps: this.cfg.fps }, 'camera starting');
    this.spawn();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    await this.killChild();
    this.closePipes();
    this.setState('stopped');
  }

  countInspected(n = 1): void {
    this.framesInspected += n;
  }

  countDropped(reason: DropReason, n = 1): void {
    this.framesDropped[reason] += n;
  }

  release(frame: Frame): void {
    this.inputs?.release(frame);
  }

  /** Flow control: the consumer took the waiting frame; hand over the held one and read on. */
  taken(): void {
    if (!this.flowControl) return;
    this.waiting = false;
    const held = this.held;
    this.held = null;
    if (held) {
      this.waiting = true;
      this.emit('frame', held);
    }
    if (this.pipes.some((p) => p.isPaused())) {
      for (const p of this.pipes) p.resume();
      this.armStallTimer(this.generation);
    }
  }

  snapshot(): CameraSnapshot {
    return {
      id: this.id,
      state: this.state,
      width: this.width,
      height: this.height,
      fps: this.rate.perSecond(),
      framesReceived: this.framesReceived,
      framesInspected: this.framesInspected,
      framesDropped: { ...this.framesDropped },
      restarts: this.restarts,
      lastFrameTs: this.lastFrameTs,
      lastError: this.lastError,
    };
  }

  private spawn(): void {
    const generation = ++this.generation;
    this.stderr.clear();
    this.assembler = null;
    this.viewAssembler = null;
    this.early = { out: [], view: [] };
    this.awaiting = [];
    this.views = [];
    this.waiting = false;
    this.held = null;
    this.runFrames = 0;
    this.clock.newRun();
    this.frameTimeBase = NaN;
    this.runTimes = 0;
    this.width = undefined;
    this.height = undefined;
    this.closePipes();
    void this.open(generation);
    this.armStallTimer(generation);
  }

  /** Opens the channels for ffmpeg's outputs, then starts ffmpeg on them; a failure is a camera failure (retried). */
  private async open(generation: number): Promise<void> {
    const opening = [openFrameChannel(this.sink(generation, 'out')), ...(this.letterbox ? [openFrameChannel(this.sink(generation, 'view'))] : [])];
    let channels: FrameChannel[];
    try {
      channels = await Promise.all(opening);
    } catch (err) {
      for (const r of await Promise.allSettled(opening)) if (r.status === 'fulfilled') closeChannel(r.value);
      this.fail(generation, { code: 'E_CAMERA_STREAM', message: `could not open a channel for ffmpeg's frames (${errorMessage(err)})` });
      return;
    }
    if (generation !== this.generation || this.stopping) {
      for (const c of channels) closeChannel(c);
      return;
    }
    try {
      this.launch(generation, channels);
    } catch (err) {
      for (const c of channels) closeChannel(c);
      this.fail(generation, { code: 'E_CAMERA_STREAM', message: `could not start ffmpeg (${errorMessage(err)})` });
    }
  }

  /** ffmpeg writes the model input (or full-size frames) to fd 1 and, when letterboxing, the views to fd 3: both are `FrameChannel`s. */
  private launch(generation: number, [out, view]: FrameChannel[]): void {
    const args = cameraFfmpegArgs(this.cfg, this.letterbox, this.decodeThreads);
    const child = spawnOnChannels(TETHERED_FFMPEG, args, out, view, tetheredEnv(this.decoderScheduling));
    this.child = child;
    let exited = false;
    const exit = (err: Error | undefined) => {
      if (exited) return; // 'error' and 'close' can both come for one child
      exited = true;
      this.onExit(generation, err);
    };
    child.once('error', (err) => exit(err));
    this.pipes = [out.near, ...(view ? [view.near] : [])];
    for (const p of this.pipes) p.on('error', (err) => this.log.debug({ err: errorMessage(err) }, 'frame channel error'));
    // Node waits for the stderr pipe before 'close', not for these sockets: read them to the end first,
    // so the last frames of a file come before the camera says it stopped.
    const drained = Promise.all(this.pipes.map((p) => new Promise<void>((resolve) => {
      if (p.readableEnded || p.destroyed) resolve();
      p.once('end', resolve);
      p.once('close', resolve);
    })));
    child.once('close', (code, signal) => {
      const err = code === 0 ? undefined : new Error(signal ? `killed by ${signal}` : `exit code ${code}`);
      const late = setTimeout(() => exit(err), CHANNEL_DRAIN_MS);
      void drained.then(() => {
        clearTimeout(late);
        exit(err);
      });
    });
    this.log.debug({ pid: child.pid }, 'ffmpeg started');

    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      const lines = (partial + text).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) this.onStderr(generation, line);
    });
  }

  /** Reads of one channel: straight into the frame being assembled once ffmpeg has said the size, copied aside before. */
  private sink(generation: number, pipe: 'out' | 'view'): ReadSink {
    const assembler = () => (generation === this.generation ? (pipe === 'out' ? this.assembler : this.viewAssembler) : null);
    return {
      target: () => assembler()?.readTarget() ?? null,
      received: (n, buf) => {
        if (generation !== this.generation) return;
        const a = assembler();
        if (a) a.received(n, buf);
        else this.early[pipe].push(Buffer.from(buf.subarray(0, n))); // a copy: the scratch buffer is reused
      },
    };
  }

  private closePipes(): void {
    for (const p of this.pipes) p.destroy();
    this.pipes = [];
  }

  private onStderr(generation: number, line: string): void {
    if (generation !== this.generation) return;
    if (isFrameTimeLine(line)) {
      this.frameTimeBase = parseFrameTimeBase(line) ?? this.frameTimeBase;
      const time = parseFrameTime(line, this.frameTimeBase);
      if (time) {
        this.runTimes++;
        this.clock.time(time.n, time.ms);
      }
      return;
    }
    if (line.startsWith(TETHER_NOTICE)) {
      // The wrapper's own word (e.g. the decoder's scheduling policy could not be set): once per camera, not per restart.
      if (!this.tetherNoticed.has(line)) this.log.warn(line.slice(TETHER_NOTICE.length));
      this.tetherNoticed.add(line);
      return;
    }
    this.stderr.push(line);
    const size = parseDecodedSize(line);
    if (!size) return;
    if (this.width === undefined) {
      this.width = size.width;
      this.height = size.height;
      const full = size.width * size.height * 3;
      const lb = this.letterbox;
      const onFrame = (buf: Buffer, at: number) => this.onFrame(generation, buf, at);
      if (lb) {
        const inputBytes = lb.width * lb.height * 3;
        if (this.inputs?.size !== inputBytes) this.inputs = new InputPool(inputBytes, INPUTS_KEPT);
        if (this.pictures?.size !== full) this.pictures = new PicturePool(full, PICTURES_KEPT + 1);
        const { inputs, pictures } = this;
        this.assembler = new FrameAssembler(inputBytes, onFrame, Date.now, () => inputs.acquire());
        this.viewAssembler = new FrameAssembler(full, (buf) => this.onView(generation, buf), Date.now, () => pictures.acquire());
      } else {
        this.assembler = new FrameAssembler(full, onFrame);
      }
      for (const chunk of this.early.out) this.assembler.push(chunk);
      for (const chunk of this.early.view) this.viewAssembler?.push(chunk);
      this.early = { out: [], view: [] };
    } else if (size.width !== this.width || size.height !== this.height) {
      // ffmpeg would quietly rescale to the first size; restart so frames and boxes use the new one.
      this.fail(generation, {
        code: 'E_CAMERA_RESIZE',
        message: `resolution changed from ${this.width}×${this.height} to ${size.width}×${size.height}; restarting the decoder at the new size`,
      }, 'info');
    }
  }

  private onFrame(generation: number, pixels: Buffer, capturedAt: number): void {
    if (generation !== this.generation || this.width === undefined || this.height === undefined) return;
    const lb = this.letterbox;
    const frame: Frame = lb
      ? { camera: this.id, seq: 0, captureTs: capturedAt, width: this.width, height: this.height, input: { rgb: pixels, width: lb.width, height: lb.height } }
      : { camera: this.id, seq: 0, captureTs: capturedAt, width: this.width, height: this.height, rgb: pixels };
    this.clock.frame(this.runFrames, frame);
    if (this.runFrames === NO_TIMES_AFTER && this.runTimes === 0 && !this.warnedNoTimes) {
      this.warnedNoTimes = true;
      this.log.warn(`ffmpeg reported no frame times in ${NO_TIMES_AFTER} frames (its showinfo filter printed nothing); this camera's frames are timed by their arrival, and a busy CPU can split a defect's track`);
    }
    if (lb && this.runFrames % lb.viewEvery === 0) {
      // This frame has a full-size picture on fd 3; ffmpeg may write it before or after the model input.
      const view = this.views.shift();
      if (view) this.pictures?.attach(frame, view);
      else {
        frame.pictureDue = true;
        this.awaiting.push(frame);
      }
    }
    this.runFrames++;
    if (!this.stillPaired(generation)) return;
    // Handed on at once: the model needs only the input, and holding a live frame back for its picture
    // would let the next one supersede it.
    this.deliver(generation, frame);
  }

  /** A full-size picture from fd 3: it belongs to the oldest frame still waiting for one (or to the next that needs one). */
  private onView(generation: number, rgb: Buffer): void {
    if (generation !== this.generation) return;
    const frame = this.awaiting.shift();
    if (!frame) {
      this.views.push(rgb);
      this.stillPaired(generation);
      return;
    }
    this.pictures?.attach(frame, rgb);
    delete frame.pictureDue;
    this.emit('picture', frame);
  }

  /** The two outputs of one graph are never more than a frame or two apart; a pile-up means they no longer pair up. */
  private stillPaired(generation: number): boolean {
    if (this.awaiting.length <= 4 && this.views.length <= 4) return true;
    this.fail(generation, {
      code: 'E_CAMERA_STREAM',
      message: `ffmpeg's model inputs and full-size frames no longer pair up (${this.awaiting.length} frames waiting for a picture, ${this.views.length} pictures waiting for a frame); restarting the decoder`,
    });
    return false;
  }

  private deliver(generation: number, frame: Frame): void {
    this.framesReceived++;
    frame.seq = this.framesReceived;
    this.lastFrameTs = frame.captureTs;
    this.rate.tick(frame.captureTs);
    if (this.state !== 'online') {
      const recovered = this.state === 'reconnecting';
      this.onlineSince = Date.now();
      this.setState('online');
      if (recovered) this.log.info({ restarts: this.restarts, width: this.width, height: this.height }, 'camera recovered');
      else this.log.info({ width: this.width, height: this.height }, 'camera online');
      this.lastLoggedFailure = '';
    }
    if (this.flowControl && this.waiting) {
      // The consumer is busy: keep this frame (a newer one replaces it) and stop reading until it is done.
      if (this.held) {
        this.framesDropped.superseded++;
        this.release(this.held);
      }
      this.held = frame;
      for (const p of this.pipes) p.pause();
      if (this.stallTimer) clearTimeout(this.stallTimer); // waiting for the model, not for the camera
      this.stallTimer = null;
      return;
    }
    this.armStallTimer(generation);
    if (this.flowControl) this.waiting = true;
    this.emit('frame', frame);
  }

  private onExit(generation: number, err: Error | undefined): void {
    if (generation !== this.generation || this.stopping) return;
    this.child = null;
    // A frame cut short is lost with the decoder.
    if ((this.assembler?.pendingBytes ?? 0) > 0) this.framesDropped.bad_frame++;
    this.awaiting = [];
    const cause = classifyStderr(this.stderr.all());
    if (!err && sourceKind(this.cfg.url) === 'file' && !this.cfg.loop) {
      this.log.info('video file ended; camera stopped');
      this.clearTimers(); // the stall watchdog must not restart a camera that is done
      this.setState('stopped');
      return;
    }
    const lastLine = this.stderr.all().filter((l) => l.trim() !== '').at(-1);
    const failure: Failure = cause
      ? { code: cause.code, message: `${cause.summary}: ${cause.line}` }
      : { code: 'E_CAMERA_STREAM', message: `ffmpeg exited${err ? ` (${err.message.split('\n')[0]})` : ''}${lastLine ? `; last output: ${lastLine.trim()}` : ''}` };
    this.fail(generation, failure);
  }

  private armStallTimer(generation: number): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    const starting = this.state !== 'online';
    const ms = starting ? this.startMs : this.stallMs;
    this.stallTimer = setTimeout(() => {
      this.fail(generation, {
        code: 'E_CAMERA_STALL',
        message: starting
          ? `no first frame within ${ms / 1000} s (start_timeout); restarting the camera`
          : `no frame for ${ms / 1000} s (stall_timeout); restarting the camera`,
      });
    }, ms);
    this.stallTimer.unref();
  }

  private fail(generation: number, failure: Failure, level: 'warn' | 'info' = 'warn'): void {
    if (generation !== this.generation || this.stopping) return;
    this.generation++; // late events of the failed child are ignored from here on
    this.clearTimers();
    const wasOnline = this.state === 'online';
    if (wasOnline && Date.now() - this.onlineSince >= this.stableMs) this.backoff.reset();
    this.restarts++;
    this.lastError = { code: failure.code, message: failure.message, at: Date.now() };
    const delay = Math.max(MIN_RETRY_MS, this.backoff.next());
    const key = `${failure.code}:${failure.message}`;
    if (key !== this.lastLoggedFailure) {
      this.log[level]({ code: failure.code, retryInMs: delay, attempt: this.backoff.attempts }, `${failure.message}; retrying in ${(delay / 1000).toFixed(1)} s (and on, with backoff)`);
      this.lastLoggedFailure = key;
    } else {
      this.log.debug({ code: failure.code, retryInMs: delay, attempt: this.backoff.attempts }, failure.message);
    }
    this.setState('reconnecting');
    const retry = () => {
      this.retryTimer = null;
      if (!this.stopping) this.spawn();
    };
    void this.killChild().then(() => {
      if (this.stopping) return;
      this.retryTimer = setTimeout(retry, delay);
    });
  }

  private async killChild(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  private clearTimers(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stallTimer = null;
    this.retryTimer = null;
  }

  private setState(next: CameraState): void {
    const prev = this.state;
    if (prev === next) return;
    this.state = next;
    this.emit('state', next, prev);
  }
}
