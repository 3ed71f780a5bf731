import type { AggregateStore } from '../../src/store/aggregate-store.js';
import { emptyMinute, type MinuteStats } from '../../src/store/minute-stats.js';
import { recordLatency } from '../../src/store/latency-histogram.js';

const MINUTE = 60_000;

/** A plausible, deterministic record for one camera and minute. */
export function syntheticMinute(camera: string, minute: number): MinuteStats {
  const i = Math.floor(minute / MINUTE) + camera.length * 7;
  const m = emptyMinute(camera, minute);
  m.framesReceived = 300;
  m.framesInspected = 290 + (i % 10);
  m.framesDropped = { superseded: 10 - (i % 10), bad_frame: 0, inference_error: 0, shutdown: 0 };
  m.fpsSum = 5 * 12;
  m.fpsSamples = 12;
  m.secondsOnline = 60;
  m.provider = 'cpu';
  if (i % 3 === 0) {
    m.classes.scratch = { detections: 4, events: i % 6 === 0 ? 1 : 0, confidenceSum: 3.2, confidenceMax: 0.9 };
    if (i % 6 === 0) recordLatency(m.latency, 120 + (i % 50));
  }
  for (let k = 0; k < 5; k++) recordLatency(m.inspectLatency, 30 + ((i + k) % 40));
  return m;
}

/**
 * Writes `minutes` consecutive minutes from `start` for each camera, a day per
 * transaction. Returns the `camera|minuteISO` keys written.
 */
export function writeMinutes(store: AggregateStore, start: number | string, minutes: number, cameras: readonly string[]): string[] {
  const from = typeof start === 'string' ? Date.parse(start) : start;
  const keys: string[] = [];
  for (let done = 0; done < minutes; done += 1440) {
    const rows: MinuteStats[] = [];
    for (let k = done; k < Math.min(minutes, done + 1440); k++) {
      for (const camera of cameras) {
        rows.push(syntheticMinute(camera, from + k * MINUTE));
        keys.push(`${camera}|${new Date(from + k * MINUTE).toISOString()}`);
      }
    }
    store.writeMinutes(rows);
  }
  return keys;
}
