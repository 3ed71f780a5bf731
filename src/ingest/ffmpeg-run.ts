import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { keepAlive, systemClock, type Clock } from '../clock.js';
import { errorMessage, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { classifyStderr, isFrameTimeLine, StderrTail, parseDecodedSize, parseFrameTime, parseFrameTimeBase } from './ffmpeg-stderr.js';
import { TETHERED_FFMPEG } from './ffmpeg-command.js';
import { closeChannel, openFrameChannel, spawnOnChannels, type FrameChannel, type ReadSink } from './frame-channel.js';

/** Why a camera's decoder stopped or could not start. */
export interface Failure {
  code: ErrorCode;
  message: string;
}

/** How a run ended: `clean` when ffmpeg exited 0; `failure` says why it ended, with ffmpeg's own cause where it gave one. */
export interface RunOutcome {
  clean: boolean;
  failure: Failure;
}

/** What one ffmpeg run reports, besides the bytes on its channels. */
export interface RunHandlers {
  /** ffmpeg's filter graph was set up for frames of this size: at start, and again when the stream's size changes. */
  decodedSize(width: number, height: number): void;
  /** The frame-time filter's report: analysed frame `n` of this run has stream time `ms` (NaN: none). */
  frameTime(n: number, ms: number): void;
  /** A line of bin/ffmpeg-tethered's own (e.g. the scheduling policy could not be set), without its prefix. */
  notice(text: string): void;
  /** ffmpeg exited and its channels were read to the end, or it could not be started. Called once, never after `stop`. */
  exit(outcome: RunOutcome): void;
}

/** Longest wait, once ffmpeg has exited, for the rest of its frames on the channels. */
const CHANNEL_DRAIN_MS = 2000;

/** How long ffmpeg gets to exit after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

/** ffmpeg's stderr lines kept for a failure's cause. */
const STDERR_KEPT = 40;

/** How bin/ffmpeg-tethered's own lines on ffmpeg's stderr begin. */
const TETHER_NOTICE = 'ffmpeg-tethered: ';

/**
 * One ffmpeg child of a camera: started on a `FrameChannel` per sink (fd 1,
 * then fd 3), its stderr read line by line (frame times, the decoded size, the
 * last lines kept for the cause of a failure), its exit classified by
 * ffmpeg's own words. Stopped with terminate → wait → kill, as Frigate's
 * camera watchdog does. A run is used once: a restart is a new run.
 */
export class FfmpegRun {
  private child: ChildProcess | null = null;
  private channels: FrameChannel[] = [];
  private readonly stderr = new StderrTail(STDERR_KEPT);
  /** ms per unit of the frame-time filter's timestamps (NaN until ffmpeg says). */
  private frameTimeBase = NaN;
  private readonly abort = new AbortController();
  private stopped = false;
  private exited = false;

  constructor(private readonly handlers: RunHandlers, private readonly log: Logger, private readonly clock: Clock = systemClock) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Builds the command line (which may first ask the stream something, hence
   * the signal, aborted by `stop`), opens a channel per sink, then starts
   * ffmpeg on them. A failure on the way is reported as the run's exit.
   */
  async start(sinks: readonly ReadSink[], args: (signal: AbortSignal) => Promise<string[]>, env: Record<string, string>): Promise<void> {
    let argv: string[];
    try {
      argv = await args(this.abort.signal);
    } catch (err) {
      return this.startFailed(`could not build ffmpeg's command line (${errorMessage(err)})`);
    }
    if (this.stopped) return;
    const opening = sinks.map((sink) => openFrameChannel(sink));
    try {
      this.channels = await Promise.all(opening);
    } catch (err) {
      for (const r of await Promise.allSettled(opening)) if (r.status === 'fulfilled') closeChannel(r.value);
      return this.startFailed(`could not open a channel for ffmpeg's frames (${errorMessage(err)})`);
    }
    if (this.stopped) return this.closeChannels();
    try {
      this.watch(spawnOnChannels(TETHERED_FFMPEG, argv, this.channels[0], this.channels[1], env));
    } catch (err) {
      this.closeChannels();
      this.startFailed(`could not start ffmpeg (${errorMessage(err)})`);
    }
  }

  /** Stops reading the channels: ffmpeg blocks on its next write (flow control). */
  pause(): void {
    for (const c of this.channels) c.near.pause();
  }

  resume(): void {
    for (const c of this.channels) c.near.resume();
  }

  /** Ends the run: no handler is called from here on; ffmpeg gets SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) await terminate(child, this.clock);
    this.closeChannels();
  }

  private watch(child: ChildProcess): void {
    this.child = child;
    this.log.debug({ pid: child.pid }, 'ffmpeg started');
    child.once('error', (err) => this.exit({ clean: false, failure: this.failure(err) }));
    const pipes = this.channels.map((c) => c.near);
    // A channel's own error ends it like EOF; the cause that matters is ffmpeg's, reported at its exit.
    for (const p of pipes) p.on('error', (err) => this.log.debug({ err: errorMessage(err) }, 'frame channel error'));
    // Node waits for the stderr pipe before 'close', not for these sockets: read them to the end first,
    // so the last frames of a file come before the camera says it stopped.
    const drained = Promise.all(pipes.map(ended));
    child.once('close', (code, signal) => {
      const err = code === 0 ? undefined : new Error(signal ? `killed by ${signal}` : `exit code ${code}`);
      const outcome = { clean: err === undefined, failure: this.failure(err) };
      const late = this.clock.setTimeout(() => this.exit(outcome), CHANNEL_DRAIN_MS);
      void drained.then(() => {
        this.clock.clearTimeout(late);
        this.exit(outcome);
      });
    });
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      const lines = (partial + text).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) this.onLine(line);
    });
  }

  private onLine(line: string): void {
    if (this.stopped) return;
    if (isFrameTimeLine(line)) {
      this.frameTimeBase = parseFrameTimeBase(line) ?? this.frameTimeBase;
      const time = parseFrameTime(line, this.frameTimeBase);
      if (time) this.handlers.frameTime(time.n, time.ms);
      return;
    }
    if (line.startsWith(TETHER_NOTICE)) return this.handlers.notice(line.slice(TETHER_NOTICE.length));
    this.stderr.push(line);
    const size = parseDecodedSize(line);
    if (size) this.handlers.decodedSize(size.width, size.height);
  }

  /** The cause of an exit in ffmpeg's own words when it gave one, else its exit status and last line. */
  private failure(err: Error | undefined): Failure {
    const lines = this.stderr.all();
    const cause = classifyStderr(lines);
    if (cause) return { code: cause.code, message: `${cause.summary}: ${cause.line}` };
    const lastLine = lines.filter((l) => l.trim() !== '').at(-1);
    return { code: 'E_CAMERA_STREAM', message: `ffmpeg exited${err ? ` (${err.message.split('\n')[0]})` : ''}${lastLine ? `; last output: ${lastLine.trim()}` : ''}` };
  }

  private startFailed(message: string): void {
    this.exit({ clean: false, failure: { code: 'E_CAMERA_STREAM', message } });
  }

  /** 'error' and 'close' can both come for one child: the first one counts. */
  private exit(outcome: RunOutcome): void {
    if (this.exited || this.stopped) return;
    this.exited = true;
    this.handlers.exit(outcome);
  }

  private closeChannels(): void {
    for (const c of this.channels) closeChannel(c);
  }
}

/** Resolves when a channel has been read to its end (or was closed). */
function ended(pipe: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (pipe.readableEnded || pipe.destroyed) resolve();
    pipe.once('end', resolve);
    pipe.once('close', resolve);
  });
}

/** SIGTERM, then SIGKILL if ffmpeg has not exited after the grace period; resolves at its exit. */
async function terminate(child: ChildProcess, clock: Clock): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const release = keepAlive(); // a stop under way is work: the grace period must run out even if nothing else is left
  const timer = clock.setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  await exited;
  clock.clearTimeout(timer);
  release();
}
