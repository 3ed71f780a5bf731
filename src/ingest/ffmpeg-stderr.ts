import type { ErrorCode } from '../errors.js';

/**
 * Reading ffmpeg's stderr. ffmpeg reports the real cause of a failure only there
 * (401, 404, refused, codec missing), so the last lines are kept and classified.
 */

/** `[graph 0 input from stream 0:0 @ 0x…] [verbose] w:1280 h:720 pixfmt:…` (verbose): the decoded size, at start and at every change. */
const GRAPH_INPUT = /graph \d+ input from stream [^\]]*\](?:\s*\[\w+\])?\s+w:(\d+)\s+h:(\d+)/;

export function parseDecodedSize(line: string): { width: number; height: number } | undefined {
  const m = GRAPH_INPUT.exec(line);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
}

/** A line of the frame-time filter (`showinfo@ts`, see FRAME_TIMES_FILTER): never a cause, and too many to keep. */
const FRAME_TIME_SOURCE = /\[showinfo@ts @ [^\]]*\]/;
/** `[showinfo@ts @ 0x…] [info] n:  12 pts:  12288 pts_time:0.8 pos: …`: frame n of the filter and its timestamp, in time-base units (or NOPTS). */
const FRAME_TIME = /\[showinfo@ts @ [^\]]*\](?:\s*\[\w+\])?\s+n:\s*(\d+)\s+pts:\s*(\S+)\s+pts_time:\s*(\S+)/;
/** `[showinfo@ts @ 0x…] [info] config in time_base: 1/90000, frame_rate: …`: the unit of those timestamps, printed when the graph is set up. */
const FRAME_TIME_BASE = /\[showinfo@ts @ [^\]]*\](?:\s*\[\w+\])?\s+config in time_base:\s*(\d+)\/(\d+)/;

export function isFrameTimeLine(line: string): boolean {
  return FRAME_TIME_SOURCE.test(line);
}

/** The time base of the frame-time filter's timestamps, in ms per unit, or undefined for any other line. */
export function parseFrameTimeBase(line: string): number | undefined {
  const m = FRAME_TIME_BASE.exec(line);
  return m && Number(m[2]) > 0 ? (Number(m[1]) * 1000) / Number(m[2]) : undefined;
}

/**
 * The index and stream time (ms; NaN when the frame has none) of a
 * frame-time line, or undefined for any other line. The time is computed
 * from the integer timestamp and the time base (`msPerUnit`), not from
 * `pts_time`: that one has six significant digits, a tenth of a second after
 * three hours of stream. Only while the time base is unknown (NaN: an ffmpeg
 * that did not print it) does `pts_time` stand in.
 */
export function parseFrameTime(line: string, msPerUnit: number): { n: number; ms: number } | undefined {
  const m = FRAME_TIME.exec(line);
  if (!m) return undefined;
  const ms = Number.isFinite(msPerUnit) ? Number(m[2]) * msPerUnit : Number(m[3]) * 1000;
  return { n: Number(m[1]), ms }; // NOPTS → NaN
}

const CAUSES: ReadonlyArray<[RegExp, ErrorCode, string]> = [
  [/401 Unauthorized|authorization failed/i, 'E_CAMERA_UNREACHABLE', 'the camera refused the credentials (401 Unauthorized)'],
  [/403 Forbidden/i, 'E_CAMERA_UNREACHABLE', 'the camera refused access (403 Forbidden)'],
  [/404 Not Found|Server returned 404/i, 'E_CAMERA_UNREACHABLE', 'the stream path does not exist on the camera (404 Not Found)'],
  [/Connection refused/i, 'E_CAMERA_UNREACHABLE', 'the camera refused the connection (nothing listening on that port)'],
  [/Connection timed out|timed out|Operation timed out/i, 'E_CAMERA_UNREACHABLE', 'the camera did not answer in time'],
  [/No route to host|Network is unreachable|Name or service not known|Temporary failure in name resolution/i, 'E_CAMERA_UNREACHABLE', 'the camera host cannot be reached'],
  [/Connection reset by peer|End of file|Broken pipe/i, 'E_CAMERA_UNREACHABLE', 'the camera closed the connection'],
  [/No such file or directory/i, 'E_CAMERA_UNREACHABLE', 'the video file does not exist'],
  [/Invalid data found when processing input|Failed to read RTSP data|method DESCRIBE failed|Invalid RTSP|Unsupported RTSP|could not find codec parameters|no frame!/i, 'E_CAMERA_STREAM', 'the source did not send decodable video'],
  [/Decoder \(codec [^)]*\) not found|Unknown decoder|Codec .* is not supported|decoder not found/i, 'E_CAMERA_STREAM', 'ffmpeg has no decoder for this stream’s codec'],
  [/does not contain any stream|Output file #0 does not contain any stream|matches no streams/i, 'E_CAMERA_STREAM', 'the source has no video stream'],
];

export interface StderrCause {
  code: ErrorCode;
  summary: string;
  /** The ffmpeg line the cause was read from. */
  line: string;
}

/** The first recognisable cause in the last lines, most specific first. */
export function classifyStderr(lines: readonly string[]): StderrCause | undefined {
  for (const [pattern, code, summary] of CAUSES) {
    for (let i = lines.length - 1; i >= 0; i--) {
      if (pattern.test(lines[i])) return { code, summary, line: lines[i].trim() };
    }
  }
  return undefined;
}

/** Keeps the last `size` lines of a child's stderr. */
export class StderrTail {
  private readonly lines: string[] = [];

  constructor(private readonly size = 30) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.size) this.lines.shift();
  }

  all(): string[] {
    return [...this.lines];
  }

  clear(): void {
    this.lines.length = 0;
  }
}

