import type { CameraSnapshot } from '../types.js';
import { systemClock } from '../clock.js';

/**
 * The watchdog's notion of "the pipeline is making progress", for
 * `Notifier.startWatchdog()`: true when a frame was inspected within the last
 * `windowMs`, or when no camera is online (nothing to inspect is not a hang:
 * cameras that are down are restarted by ingest, not by systemd). A hung
 * inference loop — cameras online, frames arriving, nothing inspected — turns
 * it false, the watchdog pings stop, and systemd restarts the service.
 *
 * Progress is measured as a change of the summed `framesInspected`, so it
 * needs nothing from the stages beyond their snapshots. The window starts
 * when the check is created and again whenever a camera comes online, so a
 * camera that just connected has `windowMs` to deliver its first inspection.
 * `now` reads the monotonic clock: a step of the wall clock must not look
 * like a hang (or hide one).
 *
 * @example
 * notify.startWatchdog(createProgressCheck(() => line.cameras(), 20_000));
 */
export function createProgressCheck(
  snapshots: () => readonly Pick<CameraSnapshot, 'state' | 'framesInspected'>[],
  windowMs: number,
  now: () => number = () => systemClock.monotonic(),
): () => boolean {
  let lastTotal = -1;
  let lastChange = now();
  let wasOnline = false;
  return () => {
    const cams = snapshots();
    const t = now();
    const online = cams.some((c) => c.state === 'online');
    const total = cams.reduce((sum, c) => sum + c.framesInspected, 0);
    if (total !== lastTotal || (online && !wasOnline)) {
      lastTotal = total;
      lastChange = t;
    }
    wasOnline = online;
    if (!online) return true;
    return t - lastChange <= windowMs;
  };
}
