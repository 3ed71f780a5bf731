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
 * Output options: RGB24 frames on stdout at no more than `fps`. `-fps_mode vfr`
 * with `-r` drops surplus frames but never duplicates one, so a camera that
 * stalls does not produce a burst of stale copies when it comes back.
 */
export function outputOptions(cam: Pick<CameraConfig, 'fps'>): string[] {
  return ['-an', '-sn', '-dn', '-map', '0:v:0', '-r', String(cam.fps), '-fps_mode', 'vfr', '-pix_fmt', 'rgb24', '-f', 'rawvideo'];
}
