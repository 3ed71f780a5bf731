import type { CameraConfig } from '../config/schema.js';

export type SourceKind = 'rtsp' | 'network' | 'file';

export function sourceKind(url: string): SourceKind {
  if (/^rtsps?:\/\//i.test(url)) return 'rtsp';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return 'network';
  return 'file';
}

/**
 * Input options for one camera. RTSP goes over TCP by default with ffmpeg's
 * low-delay settings: no input buffering, short probing, and a socket timeout so
 * a dead camera fails fast instead of hanging forever. Files replay in real time
 * (`-re`) and loop, so they behave like a camera.
 */
export function inputOptions(cam: Pick<CameraConfig, 'url' | 'transport' | 'realtime' | 'loop'>): string[] {
  const kind = sourceKind(cam.url);
  const common = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+verbose'];
  if (kind === 'rtsp') {
    return [
      ...common,
      '-rtsp_transport', cam.transport,
      '-timeout', '10000000', // µs: socket I/O timeout (RFC 2326 servers may be slow to answer DESCRIBE)
      '-fflags', 'nobuffer',
      '-flags', 'low_delay',
      '-probesize', '1000000',
      '-analyzeduration', '1000000',
      '-fpsprobesize', '0', // don't wait for 20 frames to guess a frame rate we set ourselves (-r)
    ];
  }
  if (kind === 'network') {
    return [...common, '-rw_timeout', '10000000', '-fflags', 'nobuffer', '-flags', 'low_delay', '-reconnect', '1'];
  }
  return [...common, ...(cam.realtime ? ['-re'] : []), ...(cam.loop ? ['-stream_loop', '-1'] : [])];
}

/**
 * The filter that reports each frame's place in the stream: one `showinfo`
 * line per frame on stderr (`n:` its index, `pts:` its timestamp, in the time
 * base it prints when the graph is set up), read by the camera's `FrameClock`
 * and kept out of the stderr lines kept for diagnostics. Without checksums it
 * only logs. Named, so its lines are told apart from any other filter's.
 */
export const FRAME_TIMES_FILTER = 'showinfo@ts=checksum=0';

/**
 * The rate limit: a `select` that keeps the frames `-r fps -fps_mode vfr` would
 * keep (checked with framemd5 for rates that divide the stream's; it drops
 * surplus frames and never duplicates one, so a camera that stalls does not
 * produce a burst of stale copies when it comes back). Being a filter, it
 * keeps every frame's own timestamp, which the frame clock needs.
 *
 * -r's vfr rule: keep a frame whose end lands past the next output tick minus
 * 0.6 (ffmpeg's tolerance). The ticks are on the absolute time grid, counted
 * from the tick nearest the first frame (ffmpeg snaps to it): an RTSP stream
 * starts at a PTS that is not a multiple of 1/fps, and counting from the first
 * frame's own time instead kept a different third of the demo clip's frames
 * than -r does.
 */
export function rateFilter(fps: number): string {
  return `select='isnan(prev_selected_t)+gt((t+if(isnan(prev_t)\\,0\\,t-prev_t))*${fps}\\,selected_n+round(start_t*${fps})-0.6)'`;
}

/**
 * How each raw frame output is written: as it comes, with one encoder thread.
 * ffmpeg gives the `rawvideo` encoder frame threads by default, and a
 * frame-threaded encoder hands out a frame's packet only when the next frame
 * comes in: every frame reached linesight one source frame late (67 ms at 15
 * fps), and a frame followed by one the rate filter dropped two frames late.
 * The "encoder" is a copy, so a thread of its own buys nothing.
 */
const RAW_OUTPUT = ['-fps_mode', 'passthrough', '-threads', '1', '-f', 'rawvideo'] as const;

/** Where ffmpeg letterboxes a camera's frames to the model input, and how often it also sends the full-size frame. */
export interface LetterboxPlan {
  /** Model input size. */
  width: number;
  height: number;
  /** Every `pictureEvery`-th analysed frame also comes at full size, as a picture (1: every frame). */
  pictureEvery: number;
  /** Grey of the padding (0–255). */
  pad: number;
}

/**
 * The filter graph of a camera whose ffmpeg produces the model input itself.
 * One decode feeds two outputs:
 *
 * - `[input]`: every analysed frame, scaled (bilinear, straight from the
 *   decoder's YUV into RGB24 in one swscale pass) and padded to the model's
 *   size, with the scale and offsets computed exactly as `computeLetterbox`
 *   does (Ultralytics' rounding), so boxes map back to source pixels.
 *   `full_chroma_int` interpolates the half-resolution chroma properly: without
 *   it colour edges land up to a model pixel off (measured: mean difference to
 *   sharp's letterbox of the full-size frame 1.54 grey levels, with it 0.04, for
 *   0.2 ms more per 720p frame);
 * - `[picture]`: every `pictureEvery`-th analysed frame at full size in RGB24, for
 *   the operator's video and alert thumbnails.
 *
 * The rate limit (`rateFilter`) runs before the split, so picture k is
 * analysed frame k × pictureEvery exactly. Each analysed frame is reported on stderr
 * (`FRAME_TIMES_FILTER`) on the model-input branch. The picture branch has its
 * own `scale` so the split keeps the decoder's pixel format: a lone
 * `format=rgb24` there would make ffmpeg convert every frame at full size
 * before the split.
 * `pre` is a filter chain for the decoder's frames first (VA-API's download).
 */
export function letterboxFilterGraph(fps: number, plan: LetterboxPlan, pre?: string): string {
  const { width: W, height: H } = plan;
  const scale = `min(${W}/iw\\,${H}/ih)`;
  const grey = plan.pad.toString(16).padStart(2, '0').repeat(3);
  const pictureSelect = plan.pictureEvery > 1 ? `select='not(mod(n\\,${plan.pictureEvery}))',` : '';
  return [
    `[0:v:0]${pre ? `${pre},` : ''}${rateFilter(fps)},split=2[lb][full]`,
    `[lb]scale=w='round(iw*${scale})':h='round(ih*${scale})':flags=bilinear+accurate_rnd+full_chroma_int,format=rgb24,`
      + `pad=${W}:${H}:'round((ow-iw)/2-0.1)':'round((oh-ih)/2-0.1)':color=0x${grey},${FRAME_TIMES_FILTER}[input]`,
    `[full]${pictureSelect}scale,format=rgb24[picture]`,
  ].join(';');
}

/** Output options of a letterboxing camera: the model input on stdout, the pictures on fd 3. */
export function letterboxOutputOptions(): string[] {
  return [
    '-map', '[input]', ...RAW_OUTPUT, 'pipe:1',
    '-map', '[picture]', ...RAW_OUTPUT, 'pipe:3',
  ];
}

/** How often a letterboxing camera also sends the full-size picture: as often as the preview shows one, at most every frame. */
export function pictureEvery(cameraFps: number, previewFps: number): number {
  return Math.max(1, Math.ceil(cameraFps / previewFps - 1e-9));
}
