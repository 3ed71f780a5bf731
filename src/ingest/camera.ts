import { EventEmitter } from 'node:events';
import type { CameraConfig, DecoderScheduling, IngestConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../clock.js';
import { CoverageLedger } from '../coverage.js';
import type { Logger } from '../log.js';
import type { CameraSnapshot, Frame, ModelInput } from '../types.js';
import { CameraSupervisor } from './camera-supervisor.js';
import { StreamCodec } from './codec-probe.js';
import { sourceKind, type LetterboxPlan } from './ffmpeg-args.js';
import { cameraFfmpegArgs, tetheredEnv } from './ffmpeg-command.js';
import { FfmpegRun, type RunOutcome } from './ffmpeg-run.js';
import { redactUrl } from '../config/url.js';
import { FlowControl } from './flow-control.js';
import { FrameClock } from './frame-clock.js';
import { FrameReader } from './frame-reader.js';
import type { CameraEvents, FrameSource } from './frame-source.js';
import { InputPool } from './input-pool.js';
import { PicturePairing } from './picture-pairing.js';
import { PicturePool } from './picture-pool.js';
import { RateMeter } from './rate-meter.js';
import { TimeWait } from './time-wait.js';

export { cameraFfmpegArgs, TETHERED_FFMPEG, tetheredEnv } from './ffmpeg-command.js';
export type { CameraEvents, FrameSource } from './frame-source.js';

/**
 * Idle full-size picture buffers a camera keeps for reuse: about as many as
 * its consumers hold at once (the events stage keeps the pictures of a
 * camera's recent frames for alert thumbnails, the overlay its newest one or
 * two), so in the steady state no picture is allocated.
 */
const PICTURES_KEPT = 8;

/** Idle model-input buffers a camera keeps for reuse: more than its frames in flight (one waiting, one held, one or two inferring). */
const INPUTS_KEPT = 4;

/** Frames after which a run without a single frame time from ffmpeg is worth a warning. */
const NO_TIMES_AFTER = 50;

/** Longest wait for a frame's time from ffmpeg once its bytes are in (capped at half a frame interval). */
const TIME_WAIT_MS = 20;

export interface CameraOptions {
  /**
   * For a file replayed as fast as possible (`realtime: false`): send a frame
   * only against a credit the consumer grants (`grant`), hold the one decoded
   * next and stop reading ffmpeg meanwhile (see `FlowControl`). Live cameras
   * ignore it.
   */
  flowControl?: boolean;
  /**
   * ffmpeg letterboxes every frame to the model input (`Frame.input`); every
   * `pictureEvery`-th frame also comes at full size (a `Picture`), for the
   * operator's video and alert thumbnails.
   */
  letterbox: LetterboxPlan;
  /**
   * Where the camera counts the frames it received and those it lost
   * (superseded, cut short); the line's ledger, which inference writes too.
   * Default: a ledger of the camera's own.
   */
  coverage?: CoverageLedger;
  /** Time for the camera's timers, its rate and its frames' capture times. Default: the system's. */
  clock?: Clock;
}

/** A model input that came, waiting (briefly) for ffmpeg's report of its time before it becomes a frame. */
interface Arrival {
  /** Its index in the run. */
  n: number;
  input: ModelInput;
  /** Wall-clock and monotonic time of its first byte. */
  captureTs: number;
  captureMono: number;
  pictured: boolean;
}

/** One decoder run's parts; a restart makes new ones, and events of an old run are ignored. */
interface Run {
  ffmpeg: FfmpegRun;
  reader: FrameReader;
  pairing: PicturePairing<Frame>;
  /** The pool its pictures come from, once ffmpeg said the decoded size. */
  pictures: PicturePool | null;
  /** Frames so far (the frame clock's index). */
  frames: number;
  /** Frame times ffmpeg reported so far. */
  times: number;
  /** Each frame's index in the run, for its picture. */
  indexes: WeakMap<Frame, number>;
  /** Frames that came before their time. */
  wait: TimeWait<Arrival>;
}

/**
 * One camera: one ffmpeg child at a time decoding to the model input on
 * stdout and full-size pictures on fd 3 (`FfmpegRun`), cut into frames
 * (`FrameReader`) in pooled buffers (`InputPool`, `PicturePool`), timed by
 * the stream (`FrameClock`), sent on as immutable frames, held back for a
 * file replayed as fast as possible (`FlowControl`); each picture is sent
 * after its frame (`PicturePairing`). Counts go to the coverage ledger.
 * `CameraSupervisor` restarts the decoder when it fails, stalls or changes
 * resolution.
 *
 * @example
 * const camera = new Camera(cfg, config.ingest, log, { letterbox, coverage, flowControl: true });
 * camera.on('frame', (frame) => scheduler.offer(frame));          // releases frame.input when done, grants a credit when it takes one
 * camera.on('picture', (picture) => keep(picture.hold()));        // release() it when done
 * camera.start();
 */
export class Camera extends EventEmitter<CameraEvents> implements FrameSource {
  readonly id: string;
  private readonly cfg: CameraConfig;
  private readonly plan: LetterboxPlan;
  private readonly log: Logger;
  private readonly coverage: CoverageLedger;
  private readonly supervisor: CameraSupervisor;
  private readonly flow: FlowControl;
  /** Each frame's place in the stream (`Frame.mediaTs`), from ffmpeg's report of its timestamp. */
  private readonly streamClock: FrameClock;
  /** How long a frame waits for its time before it is sent with an estimate. */
  private readonly timeWaitMs: number;
  private readonly codec: StreamCodec;
  private readonly clock: Clock;
  private readonly rate: RateMeter;
  /** The model inputs' buffers (shared memory), lent to each frame until its consumer releases it. */
  private readonly inputs: InputPool;
  /** The pictures' buffers, reference-counted; sized by the stream. */
  private pictures: PicturePool | null = null;
  private readonly decodeThreads: number;
  private readonly decoderScheduling: DecoderScheduling;
  private readonly tetherNoticed = new Set<string>();
  private warnedNoTimes = false;
  private run: Run | null = null;
  private width?: number;
  private height?: number;
  /** The last frame's seq: the ledger's frames received for this camera, so it goes on where a camera of the same id left off. */
  private seq: number;
  private lastFrameTs?: number;

  constructor(cfg: CameraConfig, ingest: IngestConfig, log: Logger, options: CameraOptions) {
    super();
    this.id = cfg.id;
    this.cfg = cfg;
    this.plan = options.letterbox;
    this.log = log.child({ stage: 'ingest', camera: cfg.id });
    this.coverage = options.coverage ?? new CoverageLedger();
    this.clock = options.clock ?? systemClock;
    this.rate = new RateMeter(5000, () => this.clock.monotonic());
    this.seq = this.coverage.counts(this.id).framesReceived;
    const asFastAsPossible = sourceKind(cfg.url) === 'file' && !cfg.realtime;
    this.streamClock = new FrameClock(cfg.fps, !asFastAsPossible);
    this.timeWaitMs = Math.min(TIME_WAIT_MS, 500 / cfg.fps);
    this.flow = new FlowControl((options.flowControl ?? false) && asFastAsPossible, {
      send: (frame) => this.send(frame),
      supersede: (frame) => this.lose(frame, 'superseded'),
      pause: () => this.run?.ffmpeg.pause(),
      resume: () => this.run?.ffmpeg.resume(),
    });
    const stallMs = (cfg.stall_timeout ?? ingest.stall_timeout) * 1000;
    this.supervisor = new CameraSupervisor({
      stallMs,
      startMs: Math.max(stallMs, (cfg.start_timeout ?? ingest.start_timeout) * 1000),
      stableMs: ingest.stable_after * 1000,
      backoffInitialMs: ingest.backoff_initial * 1000,
      backoffMaxMs: ingest.backoff_max * 1000,
    }, { launch: () => this.launch(), halt: () => this.halt(), changed: (next, prev) => this.emit('state', next, prev) }, this.log, this.clock);
    this.codec = new StreamCodec(cfg, this.log);
    this.inputs = new InputPool(this.plan.width, this.plan.height, INPUTS_KEPT);
    this.decodeThreads = ingest.decode_threads;
    this.decoderScheduling = ingest.decoder_scheduling;
  }

  get pid(): number | undefined {
    return this.run?.ffmpeg.pid;
  }

  start(): void {
    if (this.supervisor.state !== 'stopped') return;
    this.log.info({ url: redactUrl(this.cfg.url), fps: this.cfg.fps }, 'camera starting');
    this.supervisor.start();
  }

  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  /** Flow control: the consumer has room for `n` more frames; the held one goes next, and ffmpeg is read again. */
  grant(n = 1): void {
    if (this.flow.grant(n)) this.supervisor.watch();
  }

  snapshot(): CameraSnapshot {
    const counts = this.coverage.counts(this.id);
    return {
      id: this.id,
      state: this.supervisor.state,
      width: this.width,
      height: this.height,
      fps: this.rate.perSecond(),
      framesReceived: counts.framesReceived,
      framesInspected: counts.framesInspected,
      framesDropped: counts.framesDropped,
      restarts: this.supervisor.restarts,
      lastFrameTs: this.lastFrameTs,
      lastError: this.supervisor.lastError,
    };
  }

  /** A new decoder run; its events reach the camera only while it is the current one. */
  private launch(): void {
    if (this.run) this.retire(this.run); // a file that ended: its held frame is not sent now
    this.streamClock.newRun();
    this.width = undefined;
    this.height = undefined;
    // Every handler of the run goes through `live`: once the run is halted, what it still reports is ignored.
    const live = <A extends unknown[]>(handler: (...args: A) => void) => (...args: A): void => {
      if (run === this.run) handler(...args);
    };
    const run: Run = {
      frames: 0,
      times: 0,
      indexes: new WeakMap(),
      wait: new TimeWait<Arrival>((n) => this.streamClock.reported(n), this.timeWaitMs, (a) => this.build(run, a), this.clock),
      pictures: null,
      reader: new FrameReader(this.inputs.size, {
        input: live((input, at) => this.onInput(run, input, at)),
        picture: live((rgb) => this.onPicture(run, rgb)),
      }, () => this.clock.monotonic()),
      pairing: new PicturePairing<Frame>(this.plan.pictureEvery, {
        show: (frame, rgb) => this.show(run, frame, rgb),
        discard: (rgb) => run.pictures?.giveBack(rgb),
      }),
      ffmpeg: new FfmpegRun({
        decodedSize: live((width, height) => this.onDecodedSize(run, width, height)),
        frameTime: live((n, ms) => this.onFrameTime(run, n, ms)),
        notice: (text) => this.onNotice(text),
        exit: live((outcome) => this.onExit(run, outcome)),
      }, this.log, this.clock),
    };
    this.run = run;
    const args = async (signal: AbortSignal) => {
      const codec = await this.codec.resolve(signal);
      return cameraFfmpegArgs({ ...this.cfg, codec }, this.plan, this.decodeThreads);
    };
    void run.ffmpeg.start([run.reader.out, run.reader.pictures], args, tetheredEnv(this.decoderScheduling));
  }

  /** Ends the current run; a run that delivered nothing may have met a changed codec, so it is asked again. */
  private async halt(): Promise<void> {
    const run = this.run;
    this.run = null;
    if (!run) return;
    this.retire(run);
    if (run.frames === 0) this.codec.forget();
    await run.ffmpeg.stop();
  }

  /** What a run leaves behind goes back: the frames waiting for their time, the held frame (never sent: lost with its decoder), the pictures. */
  private retire(run: Run): void {
    for (const a of run.wait.clear()) a.input.release();
    const held = this.flow.reset();
    if (held) this.lose(held, 'shutdown');
    run.pairing.close();
    run.reader.close();
  }

  private onDecodedSize(run: Run, width: number, height: number): void {
    if (this.width === undefined) {
      this.width = width;
      this.height = height;
      const full = width * height * 3;
      if (this.pictures?.size !== full) this.pictures = new PicturePool(full, PICTURES_KEPT);
      const pictures = this.pictures;
      run.pictures = pictures;
      run.reader.sized(full, { input: () => this.inputs.acquire(), picture: () => pictures.acquire() });
    } else if (width !== this.width || height !== this.height) {
      // ffmpeg would quietly rescale to the first size; restart so frames and boxes use the new one.
      this.supervisor.fail({
        code: 'E_CAMERA_RESIZE',
        message: `resolution changed from ${this.width}×${this.height} to ${width}×${height}; restarting the decoder at the new size`,
      }, 'info');
    }
  }

  /** ffmpeg's report of frame `n`'s time: the frames waiting for it (or for an earlier one's, which ffmpeg skipped) go on. */
  private onFrameTime(run: Run, n: number, ms: number): void {
    run.times++;
    this.streamClock.time(n, ms);
    run.wait.reported(n);
  }

  private onNotice(text: string): void {
    // The wrapper's own word (e.g. the decoder's scheduling policy could not be set): once per camera, not per restart.
    if (!this.tetherNoticed.has(text)) this.log.warn(text);
    this.tetherNoticed.add(text);
  }

  /** A model input: a frame as soon as its time is known, or with an estimate after a short wait (`TimeWait`). */
  private onInput(run: Run, input: ModelInput, arrivedMono: number): void {
    const n = run.frames++;
    const pictured = run.pairing.arrived(n);
    if (n === NO_TIMES_AFTER && run.times === 0 && !this.warnedNoTimes) {
      this.warnedNoTimes = true;
      this.log.warn(`ffmpeg reported no frame times in ${NO_TIMES_AFTER} frames (its showinfo filter printed nothing); this camera's frames are timed by their arrival, and a busy CPU can split a defect's track`);
    }
    if (this.outOfStep(run)) {
      input.release();
      return;
    }
    // The wall-clock time of that same moment: what payloads say; durations use the monotonic one.
    const captureTs = this.clock.now() - (this.clock.monotonic() - arrivedMono);
    run.wait.add({ n, input, captureTs, captureMono: arrivedMono, pictured });
  }

  /** The frame, built once and frozen, counted as received and offered to flow control. */
  private build(run: Run, a: Arrival): void {
    // Known by now: the reader cuts frames only once ffmpeg has said the size (`onDecodedSize`).
    const { width = 0, height = 0 } = this;
    const mediaTs = this.streamClock.place(a.n, a.captureMono);
    this.coverage.received(this.id);
    this.seq++;
    const frame: Frame = Object.freeze({ camera: this.id, seq: this.seq, captureTs: a.captureTs, captureMono: a.captureMono, mediaTs, width, height, input: a.input, pictured: a.pictured });
    if (frame.pictured) run.indexes.set(frame, a.n);
    this.lastFrameTs = frame.captureTs;
    this.rate.tick(frame.captureMono);
    this.supervisor.frameArrived({ width, height });
    // Held back, the decoder waits for the model, not for the camera: no stall to watch for.
    if (!this.flow.offer(frame)) this.supervisor.hold();
  }

  /** Flow control sends a frame (of the current run: a new run forgets the held one): the frame, then its picture (now, or when it comes). */
  private send(frame: Frame): void {
    this.emit('frame', frame);
    const n = this.run?.indexes.get(frame);
    if (n !== undefined) this.run?.pairing.delivered(n, frame);
  }

  /** A frame received but never sent: counted, its input released, its picture not sent. */
  private lose(frame: Frame, reason: 'superseded' | 'shutdown'): void {
    this.coverage.dropped(this.id, reason);
    frame.input.release();
    const n = this.run?.indexes.get(frame);
    if (n !== undefined) this.run?.pairing.lost(n);
  }

  private onPicture(run: Run, rgb: Buffer): void {
    run.pairing.picture(rgb);
    this.outOfStep(run);
  }

  /** A picture of a frame sent: emitted with the camera's share, which is released once the listeners have taken theirs. */
  private show(run: Run, frame: Frame, rgb: Buffer): void {
    const picture = (run.pictures as PicturePool).share(rgb, frame);
    try {
      this.emit('picture', picture);
    } finally {
      picture.release();
    }
  }

  /** A pile-up of unpaired halves means the two outputs no longer belong together: restart the decoder. */
  private outOfStep(run: Run): boolean {
    const why = run.pairing.outOfStep;
    if (why) this.supervisor.fail({ code: 'E_CAMERA_STREAM', message: `${why}; restarting the decoder` });
    return why !== undefined;
  }

  private onExit(run: Run, outcome: RunOutcome): void {
    // A frame cut short is lost with the decoder.
    if (run.reader.pendingBytes > 0) this.coverage.dropped(this.id, 'bad_frame');
    // Its channels and stderr were read to the end: a time still missing will not come.
    run.wait.flush();
    if (outcome.clean && sourceKind(this.cfg.url) === 'file' && !this.cfg.loop) {
      // The run stays the camera's until the next start or stop: a held frame still goes on a credit, with its picture.
      void run.ffmpeg.stop(); // ffmpeg is gone: this only closes its channels
      this.supervisor.ended();
      return;
    }
    this.supervisor.fail(outcome.failure);
  }
}
