import { spawn } from 'node:child_process';
import type { CameraConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { jetsonCodec, jetsonDecoder, needsCodecProbe, videoCodec, type VideoCodec } from './hwaccel.js';
import { redactUrl } from '../config/url.js';

/** What ffprobe said of a stream: its first video stream's codec (`h264`, `hevc`, …), or why there is none. */
export interface CodecProbe {
  codec?: string;
  problem?: string;
}

export interface ProbeOptions {
  /** The ffprobe binary (default: `ffprobe` on PATH). */
  ffprobe?: string;
  /** Longest wait before ffprobe is killed (default 10 s). */
  timeoutMs?: number;
  transport?: 'tcp' | 'udp';
  /** Aborting kills ffprobe (the camera stopped meanwhile). */
  signal?: AbortSignal;
}

/**
 * Asks ffprobe for the codec of the first video stream. Costs one connection
 * to the camera (about a second on RTSP). Never blocks the event loop and
 * never throws: ffprobe missing, failing, or slower than `timeoutMs` (it is
 * killed) gives a `problem` instead, with ffprobe's own last line.
 *
 * @example
 * await probeVideoCodec('rtsp://cam/s1'); // { codec: 'hevc' }
 * await probeVideoCodec('/no/such.mp4');  // { problem: '/no/such.mp4: No such file or directory' }
 */
export function probeVideoCodec(url: string, options: ProbeOptions = {}): Promise<CodecProbe> {
  const rtsp = /^rtsps?:\/\//i.test(url);
  const args = [
    '-v', 'error',
    ...(rtsp ? ['-rtsp_transport', options.transport ?? 'tcp'] : []),
    '-select_streams', 'v:0',
    '-show_entries', 'stream=codec_name',
    '-of', 'default=noprint_wrappers=1:nokey=1',
    url,
  ];
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    const child = spawn(options.ffprobe ?? 'ffprobe', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL', signal: options.signal });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (out.length < 1000) out += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err = (err + chunk).slice(-1000);
    });
    child.once('error', (e) => resolve({ problem: errorMessage(e) }));
    child.once('close', (code, signal) => {
      const codec = code === 0 ? out.trim().split('\n')[0]?.trim().toLowerCase() : undefined;
      if (codec) return resolve({ codec });
      const last = err.trim().split('\n').at(-1)?.trim();
      const why = signal === 'SIGKILL' ? `no answer within ${timeoutMs / 1000} s` : code === 0 ? 'no video stream' : `exit code ${code}`;
      resolve({ problem: last ? `${why}: ${redactUrl(last)}` : why });
    });
  });
}

/**
 * The codec a camera's Jetson decoder is chosen by (see `jetsonCodec`): the
 * configured one; else, where the URL gives no hint (`needsCodecProbe`), the
 * one ffprobe reads from the stream before an ffmpeg start. The answer is
 * kept across restarts, and asked again after a start that delivered nothing
 * (`forget`): the camera's codec may have been changed on it. While ffprobe
 * cannot say (camera unreachable), each start asks again and meanwhile
 * decodes as H.264.
 */
export class StreamCodec {
  private known?: VideoCodec;
  private lastProblem = '';

  constructor(
    private readonly cfg: Pick<CameraConfig, 'url' | 'transport' | 'hwaccel' | 'codec'>,
    private readonly log: Logger,
    private readonly probe: (url: string, options: ProbeOptions) => Promise<CodecProbe> = probeVideoCodec,
  ) {}

  /** The codec for the next ffmpeg start: configured, known, or asked of the stream now; undefined leaves `jetsonCodec`'s default. */
  async resolve(signal: AbortSignal): Promise<VideoCodec | undefined> {
    if (!needsCodecProbe(this.cfg)) return this.cfg.codec;
    if (this.known) return this.known;
    const answer = await this.probe(this.cfg.url, { transport: this.cfg.transport, signal });
    if (signal.aborted) return undefined;
    const codec = videoCodec(answer.codec);
    if (codec) {
      this.known = codec;
      this.lastProblem = '';
      this.log.info({ codec, decoder: jetsonDecoder(codec) }, 'read the stream\'s codec for the Jetson decoder');
      return codec;
    }
    const problem = answer.codec ? `the stream is ${answer.codec}, which has no NVDEC decoder here` : `ffprobe could not read the stream's codec (${answer.problem})`;
    if (problem !== this.lastProblem) {
      // Once per cause, not per restart: an unreachable camera fails its start anyway, with its own warning.
      this.log.warn({ code: 'E_CAMERA_STREAM' }, `${problem}; decoding as ${jetsonCodec(this.cfg.url)} for now and asking again at the next start (set cameras[].codec to skip this)`);
      this.lastProblem = problem;
    }
    return undefined;
  }

  /** A start delivered no frame: ask the stream again next time. */
  forget(): void {
    this.known = undefined;
  }
}
