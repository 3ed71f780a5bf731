import { fileURLToPath } from 'node:url';
import type { CameraConfig, DecoderScheduling } from '../config/schema.js';
import { inputOptions, letterboxFilterGraph, letterboxOutputOptions, type LetterboxPlan } from './ffmpeg-args.js';
import { adaptArgsToFfmpeg, hwaccelInputArgs, hwaccelPreFilter, probeFfmpegVersion, type FfmpegVersion } from './hwaccel.js';

/** ffmpeg started through a wrapper that ties it to this process (see bin/ffmpeg-tethered). */
export const TETHERED_FFMPEG = fileURLToPath(new URL('../../bin/ffmpeg-tethered', import.meta.url));

/** What bin/ffmpeg-tethered is told, besides the arguments: the decoder's scheduling policy (`ingest.decoder_scheduling`). */
export function tetheredEnv(scheduling: DecoderScheduling): Record<string, string> {
  return { LINESIGHT_FFMPEG_SCHED: scheduling };
}

let ffmpegVersion: FfmpegVersion | undefined | null = null;

/** The ffmpeg in use, probed once per process: NVIDIA's Jetson build (4.2) needs older flag names. */
function installedFfmpeg(): FfmpegVersion | undefined {
  if (ffmpegVersion === null) ffmpegVersion = probeFfmpegVersion();
  return ffmpegVersion;
}

/** What of a camera's config its command line is made of. */
export type CameraCommandConfig = Pick<CameraConfig, 'url' | 'transport' | 'realtime' | 'loop' | 'fps' | 'hwaccel' | 'codec'>;

/**
 * A camera's whole ffmpeg command line: input options with its hardware-decode
 * preset, `-i URL`, then the letterbox graph: the model input on stdout and
 * every `pictureEvery`-th frame at full size on fd 3; adapted to the installed
 * ffmpeg. The bench's decode-only measurement uses the same composition.
 *
 * @param threads `ingest.decode_threads`: 0 leaves ffmpeg's default (frame
 *   threads per core, filter threads per core).
 * @example
 * cameraFfmpegArgs({ url: 'rtsp://cam/s1', transport: 'tcp', realtime: true, loop: false, fps: 5, hwaccel: 'none' },
 *   { width: 640, height: 640, pictureEvery: 1, pad: 114 }, 1);
 * // ['-hide_banner', …, '-threads', '1', '-filter_complex_threads', '1', '-i', 'rtsp://cam/s1', '-filter_complex', …, 'pipe:1', …, 'pipe:3']
 */
export function cameraFfmpegArgs(cfg: CameraCommandConfig, letterbox: LetterboxPlan, threads = 0): string[] {
  const threading = threads > 0 ? ['-threads', String(threads), '-filter_complex_threads', String(threads)] : [];
  const input = [...inputOptions(cfg), ...threading, ...hwaccelInputArgs(cfg.hwaccel, cfg.url, { codec: cfg.codec }), '-i', cfg.url];
  const output = ['-filter_complex', letterboxFilterGraph(cfg.fps, letterbox, hwaccelPreFilter(cfg.hwaccel)), ...letterboxOutputOptions()];
  return adaptArgsToFfmpeg([...input, ...output], installedFfmpeg());
}
