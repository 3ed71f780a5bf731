import { EventEmitter } from 'node:events';
import type { CameraConfig, DecoderScheduling, IngestConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { CameraSnapshot, DropReason, Frame } from '../types.js';
import { CameraSupervisor } from './camera-supervisor.js';
import { StreamCodec } from './codec-probe.js';
import { sourceKind, type LetterboxPlan } from './ffmpeg-args.js';
import { cameraFfmpegArgs, tetheredEnv } from './ffmpeg-command.js';
import { FfmpegRun, type RunOutcome } from './ffmpeg-run.js';
import { redactUrl } from './ffmpeg-stderr.js';
import { FlowControl } from './flow-control.js';
import { FrameClock } from './frame-clock.js';
import { FrameReader } from './frame-reader.js';
import type { CameraEvents, FrameSource } from './frame-source.js';
import { InputPool } from './input-pool.js';
import { PicturePairing } from './picture-pairing.js';
import { PicturePool } from './picture-pool.js';
import { RateMeter } from './rate-meter.js';

export { cameraFfmpegArgs, TETHERED_FFMPEG, tetheredEnv } from './ffmpeg-command.js';
export type { CameraEvents, FrameSource } from './frame-source.js';

/**
 * Full-size pictures a camera keeps (`PicturePool`, plus the buffer being
 * filled): about a second of views at the preview rate, which covers every
 * frame an alert can still take its thumbnail from (the recent inspected
 * frames, those waiting for their picture).
 */
export const PICTURES_KEPT = 8;

/** Idle model-input buffers a camera keeps for reuse: more than its frames in flight (one waiting, one held, one or two inferring). */
const INPUTS_KEPT = 4;

/** Frames after which a run without a single frame time from ffmpeg is worth a warning. */
const NO_TIMES_AFTER = 50;

export interface CameraOptions {
  /**
   * For a file replayed as fast as possible (`realtime: false`): hold the
   * frame decoded behind the one waiting for the consumer and stop reading
   * ffmpeg until the consumer takes it (`taken`; see `FlowControl`).
   */
  flowControl?: boolean;
  /**
   * ffmpeg letterboxes every frame to the model input (`Frame.input`); every
   * `viewEvery`-th frame also comes at full size (`Frame.rgb`), for the
   * operator's video and alert thumbnails.
   */
  letterbox: LetterboxPlan;
}

/** One decoder run's parts; a restart makes new ones, and events of an old run are ignored. */
interface Run {
  ffmpeg: FfmpegRun;
  reader: FrameReader;
  pairing: PicturePairing;
  /** Frames so far (the frame clock's index). */
  frames: number;
  /** Frame times ffmpeg reported so far. */
  times: number;
}

/**
 * One camera: one ffmpeg child at a time decoding to the model input on
 * stdout and full-size views on fd 3 (`FfmpegRun`), cut into frames
 * (`FrameReader`), each view paired with its frame (`PicturePairing`), timed
 * by the stream (`FrameClock`) and handed on, held back for a file replayed
 * as fast as possible (`FlowControl`). `CameraSupervisor` restarts the
 * decoder when it fails, stalls or changes resolution.
 */
export class Camera extends EventEmitter<CameraEvents> implements FrameSource {
  readonly id: string;
  private readonly cfg: CameraConfig;
  private readonly plan: LetterboxPlan;
  private readonly log: Logger;
  private readonly supervisor: CameraSupervisor;
  private readonly flow: FlowControl;
  /** Each frame's place in the stream (`Frame.mediaTs`), from ffmpeg's report of its timestamp. */
  private readonly clock: FrameClock;
  private readonly codec: StreamCodec;
  private readonly rate = new RateMeter(5000);
  /** The model inputs' buffers (shared memory), back from the scheduler when it is done with a frame. */
  private readonly inputs: InputPool;
  /** The views' buffers, reused in turn; sized by the stream. */
  private pictures: PicturePool | null = null;
  private readonly decodeThreads: number;
  private readonly decoderScheduling: DecoderScheduling;
  private readonly tetherNoticed = new Set<string>();
  private warnedNoTimes = false;
  private run: Run | null = null;
  private width?: number;
  private height?: number;
  private framesReceived = 0;
  private framesInspected = 0;
  private readonly framesDropped: Record<DropReason, number> = { superseded: 0, bad_frame: 0, shutdown: 0, inference_error: 0 };
  private lastFrameTs?: number;

  constructor(cfg: CameraConfig, ingest: IngestConfig, log: Logger, options: CameraOptions) {
    super();
    this.id = cfg.id;
    this.cfg = cfg;
    this.plan = options.letterbox;
    this.log = log.child({ stage: 'ingest', camera: cfg.id });
    const asFastAsPossible = sourceKind(cfg.url) === 'file' && !cfg.realtime;
    this.clock = new FrameClock(cfg.fps, !asFastAsPossible);
    this.flow = new FlowControl((options.flowControl ?? false) && asFastAsPossible, {
      send: (frame) => this.emit('frame', frame),
      supersede: (frame) => {
        this.framesDropped.superseded++;
        this.release(frame);
      },
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
    }, { launch: () => this.launch(), halt: () => this.halt(), changed: (next, prev) => this.emit('state', next, prev) }, this.log);
    this.codec = new StreamCodec(cfg, this.log);
    this.inputs = new InputPool(this.plan.width * this.plan.height * 3, INPUTS_KEPT);
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

  countInspected(n = 1): void {
    this.framesInspected += n;
  }

  countDropped(reason: DropReason, n = 1): void {
    this.framesDropped[reason] += n;
  }

  release(frame: Frame): void {
    this.inputs.release(frame);
  }

  /** Flow control: the consumer took the waiting frame; the held one goes next, and ffmpeg is read again. */
  taken(): void {
    if (this.flow.taken()) this.supervisor.watch();
  }

  snapshot(): CameraSnapshot {
    return {
      id: this.id,
      state: this.supervisor.state,
      width: this.width,
      height: this.height,
      fps: this.rate.perSecond(),
      framesReceived: this.framesReceived,
      framesInspected: this.framesInspected,
      framesDropped: { ...this.framesDropped },
      restarts: this.supervisor.restarts,
      lastFrameTs: this.lastFrameTs,
      lastError: this.supervisor.lastError,
    };
  }

  /** A new decoder run; its events reach the camera only while it is the current one. */
  private launch(): void {
    this.clock.newRun();
    this.flow.reset();
    this.width = undefined;
    this.height = undefined;
    // Every handler of the run goes through `live`: once the run is halted, what it still reports is ignored.
    const live = <A extends unknown[]>(handler: (...args: A) => void) => (...args: A): void => {
      if (run === this.run) handler(...args);
    };
    const run: Run = {
      frames: 0,
      times: 0,
      reader: new FrameReader(this.plan.width * this.plan.height * 3, {
        input: live((rgb, at) => this.onInput(run, rgb, at)),
        view: live((rgb) => this.onPicture(run, rgb)),
      }),
      pairing: new PicturePairing(this.plan.viewEvery, (frame, picture, late) => this.onPair(frame, picture, late)),
      ffmpeg: new FfmpegRun({
        decodedSize: live((width, height) => this.onDecodedSize(run, width, height)),
        frameTime: live((n, ms) => this.onFrameTime(run, n, ms)),
        notice: (text) => this.onNotice(text),
        exit: live((outcome) => this.onExit(run, outcome)),
      }, this.log),
    };
    this.run = run;
    const args = async (signal: AbortSignal) => {
      const codec = await this.codec.resolve(signal);
      return cameraFfmpegArgs({ ...this.cfg, codec }, this.plan, this.decodeThreads);
    };
    void run.ffmpeg.start([run.reader.out, run.reader.view], args, tetheredEnv(this.decoderScheduling));
  }

  /** Ends the current run; a run that delivered nothing may have met a changed codec, so it is asked again. */
  private async halt(): Promise<void> {
    const run = this.run;
    this.run = null;
    this.flow.reset();
    if (!run) return;
    if (run.frames === 0) this.codec.forget();
    await run.ffmpeg.stop();
  }

  private onDecodedSize(run: Run, width: number, height: number): void {
    if (this.width === undefined) {
      this.width = width;
      this.height = height;
      const full = width * height * 3;
      if (this.pictures?.size !== full) this.pictures = new PicturePool(full, PICTURES_KEPT + 1);
      const pictures = this.pictures;
      run.reader.sized(full, { input: () => this.inputs.acquire(), view: () => pictures.acquire() });
    } else if (width !== this.width || height !== this.height) {
      // ffmpeg would quietly rescale to the first size; restart so frames and boxes use the new one.
      this.supervisor.fail({
        code: 'E_CAMERA_RESIZE',
        message: `resolution changed from ${this.width}×${this.height} to ${width}×${height}; restarting the decoder at the new size`,
      }, 'info');
    }
  }

  private onFrameTime(run: Run, n: number, ms: number): void {
    run.times++;
    this.clock.time(n, ms);
  }

  private onNotice(text: string): void {
    // The wrapper's own word (e.g. the decoder's scheduling policy could not be set): once per camera, not per restart.
    if (!this.tetherNoticed.has(text)) this.log.warn(text);
    this.tetherNoticed.add(text);
  }

  /** A model input: a frame, handed on at once (the model needs only the input; holding it for its picture would let the next supersede it). */
  private onInput(run: Run, rgb: Buffer, capturedAt: number): void {
    // Known by now: the reader cuts frames only once ffmpeg has said the size (`onDecodedSize`).
    const { width = 0, height = 0 } = this;
    const frame: Frame = { camera: this.id, seq: 0, captureTs: capturedAt, width, height, input: { rgb, width: this.plan.width, height: this.plan.height } };
    this.clock.frame(run.frames, frame);
    if (run.frames === NO_TIMES_AFTER && run.times === 0 && !this.warnedNoTimes) {
      this.warnedNoTimes = true;
      this.log.warn(`ffmpeg reported no frame times in ${NO_TIMES_AFTER} frames (its showinfo filter printed nothing); this camera's frames are timed by their arrival, and a busy CPU can split a defect's track`);
    }
    run.pairing.frame(frame);
    run.frames++;
    if (this.outOfStep(run)) return;
    this.deliver(frame);
  }

  private onPicture(run: Run, rgb: Buffer): void {
    run.pairing.picture(rgb);
    this.outOfStep(run);
  }

  private onPair(frame: Frame, picture: Buffer, late: boolean): void {
    this.pictures?.attach(frame, picture);
    if (late) this.emit('picture', frame);
  }

  /** A pile-up of unpaired halves means the two outputs no longer belong together: restart the decoder. */
  private outOfStep(run: Run): boolean {
    const why = run.pairing.outOfStep;
    if (why) this.supervisor.fail({ code: 'E_CAMERA_STREAM', message: `${why}; restarting the decoder` });
    return why !== undefined;
  }

  private deliver(frame: Frame): void {
    this.framesReceived++;
    frame.seq = this.framesReceived;
    this.lastFrameTs = frame.captureTs;
    this.rate.tick(frame.captureTs);
    this.supervisor.frameArrived({ width: this.width, height: this.height });
    // Held back, the decoder waits for the model, not for the camera: no stall to watch for.
    if (!this.flow.offer(frame)) this.supervisor.hold();
  }

  private onExit(run: Run, outcome: RunOutcome): void {
    // A frame cut short is lost with the decoder.
    if (run.reader.pendingBytes > 0) this.framesDropped.bad_frame++;
    if (outcome.clean && sourceKind(this.cfg.url) === 'file' && !this.cfg.loop) {
      this.run = null;
      void run.ffmpeg.stop(); // ffmpeg is gone: this only closes its channels
      this.supervisor.ended();
      return;
    }
    this.supervisor.fail(outcome.failure);
  }
}
