import { spawnSync } from 'node:child_process';
import type { CameraConfig } from '../config/schema.js';
import { LinesightError } from '../errors.js';
import { FRAME_TIMES_FILTER } from './ffmpeg-args.js';

/*
 * Hardware video decode presets (`cameras[].hwaccel`) and the few argument
 * spellings that differ between the ffmpeg builds linesight meets:
 *
 * - `jetson`: NVIDIA's own ffmpeg build for JetPack (apt repo
 *   repo.download.nvidia.com/jetson/ffmpeg, FFmpeg 4.2.x) with the NVDEC
 *   decoders `h264_nvv4l2dec` / `hevc_nvv4l2dec`, chosen with `-c:v` before
 *   `-i`; they hand back `nv12` frames in system memory (docs/jetson.md), so
 *   the letterbox graph's `format=rgb24` conversions work unchanged.
 * - `vaapi`: Intel/AMD through VA-API. Frames stay on the GPU
 *   (`-hwaccel_output_format vaapi`) until the filter graph converts them to
 *   8-bit nv12 on the GPU (`scale_vaapi=format=nv12`, which also covers 10-bit
 *   HEVC surfaces that a bare `hwdownload,format=nv12` would refuse) and copies
 *   them to system memory (`hwdownload,format=nv12`); the RGB24 conversion is
 *   then done on the CPU.
 * - `none`: software decode.
 */

export type HwaccelKind = CameraConfig['hwaccel'];
export type VideoCodec = 'h264' | 'hevc';

/** The render node of the first GPU; VA-API's usual device on a single-GPU box. */
export const DEFAULT_VAAPI_DEVICE = '/dev/dri/renderD128';

/** NVIDIA's V4L2 NVDEC decoders in its JetPack ffmpeg build, by stream codec. */
const JETSON_DECODERS: Readonly<Record<VideoCodec, string>> = {
  h264: 'h264_nvv4l2dec',
  hevc: 'hevc_nvv4l2dec',
};

export interface HwaccelOptions {
  /**
   * The stream's codec when known: from the camera config, or asked of the
   * stream (`StreamCodec` in codec-probe.ts). Only `jetson` needs it.
   */
  codec?: string;
  /** VA-API device (default /dev/dri/renderD128). */
  vaapiDevice?: string;
}

/**
 * Which codec the Jetson decoder should expect. The decoder has to be named
 * before ffmpeg opens the stream, and a forced decoder also forces the codec
 * ffmpeg reports for the stream (ffmpeg sets the demuxer's video_codec_id from
 * `-c:v`), so ffmpeg's own output cannot tell; ffprobe can
 * (`probeVideoCodec()`, codec-probe.ts). In order: an explicit or probed codec, then a hint in
 * a file name (`.h265`, `.hevc`, `.265`), then H.264 — what most line cameras
 * send by default. A wrong guess shows as a camera that never delivers its
 * first frame (start timeout, logged at warn), not as wrong detections.
 */
export function jetsonCodec(url: string, codec?: string): VideoCodec {
  return videoCodec(codec) ?? codecFromName(url) ?? 'h264';
}

/** The codec a file name says (`.h265`, `.hevc`, `.265`: HEVC), or undefined when it says none. */
export function codecFromName(url: string): VideoCodec | undefined {
  const path = url.replace(/[?#].*$/, '');
  return /\.(h265|hevc|265)$/i.test(path) ? 'hevc' : undefined;
}

/**
 * Whether a camera's Jetson decoder can only be chosen by asking the stream:
 * `hwaccel: jetson` with no `codec` in the config and no hint in the URL.
 * An RTSP URL never names its codec, and many line cameras send H.265.
 */
export function needsCodecProbe(cfg: Pick<CameraConfig, 'hwaccel' | 'url' | 'codec'>): boolean {
  return cfg.hwaccel === 'jetson' && cfg.codec === undefined && codecFromName(cfg.url) === undefined;
}

/** A codec name as ffprobe or a config spells it (`h265`, `hvc1`, `avc`…) as one linesight has a decoder for, or undefined. */
export function videoCodec(codec: string | undefined): VideoCodec | undefined {
  if (codec === undefined) return undefined;
  const c = codec.trim().toLowerCase();
  if (c === 'h264' || c === 'avc' || c === 'avc1') return 'h264';
  if (c === 'hevc' || c === 'h265' || c === 'hvc1' || c === 'hev1') return 'hevc';
  return undefined;
}

/** The NVDEC decoder name for a codec, or undefined when NVIDIA's build has none linesight uses. */
export function jetsonDecoder(codec: string): string | undefined {
  const c = videoCodec(codec);
  return c ? JETSON_DECODERS[c] : undefined;
}

/**
 * Input-side ffmpeg arguments (before `-i`) for a hardware decode preset.
 *
 * @example
 * hwaccelInputArgs('jetson', 'rtsp://cam/stream')            // ['-c:v', 'h264_nvv4l2dec']
 * hwaccelInputArgs('jetson', 'rtsp://cam', { codec: 'hevc' }) // ['-c:v', 'hevc_nvv4l2dec']
 * hwaccelInputArgs('vaapi', 'rtsp://cam')  // ['-hwaccel', 'vaapi', '-hwaccel_device', '/dev/dri/renderD128', '-hwaccel_output_format', 'vaapi']
 * hwaccelInputArgs('none', 'rtsp://cam')   // []
 */
export function hwaccelInputArgs(kind: HwaccelKind, url: string, options: HwaccelOptions = {}): string[] {
  switch (kind) {
    case 'none':
      return [];
    case 'jetson':
      return ['-c:v', JETSON_DECODERS[jetsonCodec(url, options.codec)]];
    case 'vaapi':
      return ['-hwaccel', 'vaapi', '-hwaccel_device', options.vaapiDevice ?? DEFAULT_VAAPI_DEVICE, '-hwaccel_output_format', 'vaapi'];
    default:
      throw new LinesightError('E_ARGUMENT', `Expected hwaccel "none", "jetson" or "vaapi" but received ${JSON.stringify(kind)}`);
  }
}

/** The video filter that brings VA-API surfaces back to system memory as 8-bit nv12. */
export const VAAPI_DOWNLOAD_FILTER = 'scale_vaapi=format=nv12,hwdownload,format=nv12';

/**
 * The filter a preset's decoded frames need before anything else: only VA-API
 * needs one; NVDEC already returns frames in system memory.
 */
export function hwaccelPreFilter(kind: HwaccelKind): string | undefined {
  return kind === 'vaapi' ? VAAPI_DOWNLOAD_FILTER : undefined;
}

// ---------------------------------------------------------------------------
// ffmpeg version differences. NVIDIA's Jetson build is FFmpeg 4.2 and Ubuntu
// 22.04 ships 4.4, while linesight's arguments are written for 5.1+ (Debian 12).

export interface FfmpegVersion {
  major: number;
  minor: number;
  /** The version text as ffmpeg printed it. */
  raw: string;
}

/**
 * Reads `ffmpeg -version`'s first line: `ffmpeg version 5.1.6-0+deb12u1 …`,
 * `ffmpeg version 4.2.7-0ubuntu0.1 …`, `ffmpeg version n6.1 …`. Git snapshots
 * (`N-112…-g…`) count as newest.
 */
export function parseFfmpegVersion(text: string): FfmpegVersion | undefined {
  const m = /ffmpeg version (\S+)/i.exec(text);
  if (!m) return undefined;
  const raw = m[1];
  const v = /^n?(\d+)\.(\d+)/.exec(raw);
  if (v) return { major: Number(v[1]), minor: Number(v[2]), raw };
  if (/^N-\d+/.test(raw)) return { major: Number.MAX_SAFE_INTEGER, minor: 0, raw };
  return undefined;
}

/**
 * Runs `BIN -version` (a few ms); undefined when the binary is missing or
 * prints no version. Synchronous: call it once at start-up, not per camera start.
 */
export function probeFfmpegVersion(bin = process.env.LINESIGHT_FFMPEG ?? 'ffmpeg'): FfmpegVersion | undefined {
  const r = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') return undefined;
  return parseFfmpegVersion(r.stdout);
}

const atLeast = (v: FfmpegVersion, major: number, minor: number) => v.major > major || (v.major === major && v.minor >= minor);

/**
 * Rewrites a full ffmpeg argument list (input and output options) for an older
 * ffmpeg:
 * - before 5.0, RTSP's `-timeout` was the *listen* timeout and implied server
 *   mode (ffmpeg would wait for the camera to connect to it); the socket
 *   timeout was `-stimeout` (µs). Renamed in FFmpeg 5.0.
 * - before 5.1, `-fps_mode` did not exist; `-vsync` takes the same values.
 * - before 5.0, the `level+` log flag is not relied upon: plain `-loglevel
 *   verbose` prints the same lines (the size parser does not need the tag).
 * - before 5.0, the frame-time filter goes without `checksum=0`: the option
 *   is newer than 4.x as far as we know, and the checksums cost little on the
 *   model-input branch where a letterboxing camera has it.
 * Newer versions (or an unknown version) get the list back unchanged.
 */
export function adaptArgsToFfmpeg(args: readonly string[], version: FfmpegVersion | undefined): string[] {
  if (!version || atLeast(version, 5, 1)) return [...args];
  const rtsp = args.includes('-rtsp_transport');
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-fps_mode') out.push('-vsync');
    else if (a === '-timeout' && rtsp && !atLeast(version, 5, 0)) out.push('-stimeout');
    else if (a.includes(FRAME_TIMES_FILTER) && !atLeast(version, 5, 0)) out.push(a.replace(FRAME_TIMES_FILTER, FRAME_TIMES_FILTER.replace(/=.*$/, '')));
    else if (a === '-loglevel' && !atLeast(version, 5, 0) && i + 1 < args.length) {
      out.push(a, args[i + 1].replace(/^level\+/, ''));
      i++;
    } else out.push(a);
  }
  return out;
}
