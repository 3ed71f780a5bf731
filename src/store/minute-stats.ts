import { MINUTE_MS, minuteOf } from '../clock.js';
import { emptyHistogram, mergeHistograms, type Histogram } from './latency-histogram.js';

/**
 * What linesight knows about one camera during one UTC minute. Everything in it
 * adds up (sums, counts, maxima, histograms), so two partial records of the same
 * minute — before and after a restart — merge exactly.
 */
export interface MinuteStats {
  camera: string;
  /** UTC minute start, ms since epoch. */
  minute: number;
  framesReceived: number;
  /** Frames that came back from the detector during this minute. */
  framesInspected: number;
  /** Frames that never reached the detector, by reason. */
  framesDropped: Record<string, number>;
  classes: Record<string, ClassStats>;
  /** Capture → PUBACK of each published alert. */
  latency: Histogram;
  /** Capture → detections ready, for every inspected frame. */
  inspectLatency: Histogram;
  /** Sum and number of the fps samples the camera snapshots reported (mean = sum / samples). */
  fpsSum: number;
  fpsSamples: number;
  /** Seconds of this minute the camera spent online (between snapshots that saw it online). */
  secondsOnline: number;
  /** Execution provider active at the last observation of the minute. */
  provider: string | null;
  /** Of `framesInspected`, those inspected while the camera was degraded (its health monitor said it could not see). */
  framesInspectedDegraded: number;
  /** Seconds of this minute the camera was degraded. */
  secondsDegraded: number;
}

export interface ClassStats {
  detections: number;
  events: number;
  confidenceSum: number;
  /** 0 when the class had events but no detection this minute. */
  confidenceMax: number;
  /**
   * Operator verdicts given this minute, net: present once the class had one.
   * A replacement counts −1 for the verdict it replaces and +1 for its own, in
   * the minute it is given, so a sum over minutes counts each alert's latest
   * verdict once (a single minute may hold a negative count).
   */
  verdicts?: VerdictCounts;
}

/** Net verdict counts of a class in a minute. */
export interface VerdictCounts {
  confirmed: number;
  falseAlarms: number;
  missed: number;
}

/** The verdict kinds as the counts name them. */
export const VERDICT_COUNT_OF = { confirmed: 'confirmed', false_alarm: 'falseAlarms', missed: 'missed' } as const;

export function addVerdictCounts(a: VerdictCounts | undefined, b: VerdictCounts | undefined): VerdictCounts | undefined {
  if (!a || !b) return a ?? b;
  return { confirmed: a.confirmed + b.confirmed, falseAlarms: a.falseAlarms + b.falseAlarms, missed: a.missed + b.missed };
}

export function emptyMinute(camera: string, minute: number): MinuteStats {
  return {
    camera,
    minute,
    framesReceived: 0,
    framesInspected: 0,
    framesDropped: {},
    classes: {},
    latency: emptyHistogram(),
    inspectLatency: emptyHistogram(),
    fpsSum: 0,
    fpsSamples: 0,
    secondsOnline: 0,
    provider: null,
    framesInspectedDegraded: 0,
    secondsDegraded: 0,
  };
}

export function classStats(m: MinuteStats, name: string): ClassStats {
  let c = m.classes[name];
  if (!c) {
    c = { detections: 0, events: 0, confidenceSum: 0, confidenceMax: 0 };
    m.classes[name] = c;
  }
  return c;
}

/** `b` is the later record: its provider wins when it has one. */
export function mergeMinutes(a: MinuteStats, b: MinuteStats): MinuteStats {
  const classes: Record<string, ClassStats> = {};
  for (const [name, c] of [...Object.entries(a.classes), ...Object.entries(b.classes)]) {
    const into = classes[name] ?? { detections: 0, events: 0, confidenceSum: 0, confidenceMax: 0 };
    const verdicts = addVerdictCounts(into.verdicts, c.verdicts);
    classes[name] = {
      detections: into.detections + c.detections,
      events: into.events + c.events,
      confidenceSum: into.confidenceSum + c.confidenceSum,
      confidenceMax: Math.max(into.confidenceMax, c.confidenceMax),
      ...(verdicts ? { verdicts } : {}),
    };
  }
  return {
    camera: a.camera,
    minute: a.minute,
    framesReceived: a.framesReceived + b.framesReceived,
    framesInspected: a.framesInspected + b.framesInspected,
    framesDropped: addCounts(a.framesDropped, b.framesDropped),
    classes,
    latency: mergeHistograms(a.latency, b.latency),
    inspectLatency: mergeHistograms(a.inspectLatency, b.inspectLatency),
    fpsSum: a.fpsSum + b.fpsSum,
    fpsSamples: a.fpsSamples + b.fpsSamples,
    secondsOnline: a.secondsOnline + b.secondsOnline,
    provider: b.provider ?? a.provider,
    framesInspectedDegraded: a.framesInspectedDegraded + b.framesInspectedDegraded,
    secondsDegraded: a.secondsDegraded + b.secondsDegraded,
  };
}

export function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  return out;
}

/**
 * Increase of a cumulative counter between two readings. A reading below the
 * previous one means the counter started over (its owner was recreated), so
 * everything it now shows is new. The first reading counts in full: camera
 * counters start at zero with the process, as the aggregator does.
 */
export function counterDelta(previous: number | undefined, current: number): number {
  if (previous === undefined || current < previous) return current;
  return current - previous;
}

/**
 * Splits the interval [from, to) at UTC minute boundaries: the seconds that
 * fall into each minute, in order. An empty or backwards interval yields nothing.
 *
 * @example
 * splitByMinute(Date.UTC(2024, 0, 1, 0, 0, 58), Date.UTC(2024, 0, 1, 0, 1, 3))
 * // [{ minute: …00:00, seconds: 2 }, { minute: …00:01, seconds: 3 }]
 */
export function splitByMinute(from: number, to: number): Array<{ minute: number; seconds: number }> {
  const out: Array<{ minute: number; seconds: number }> = [];
  let t = from;
  while (t < to) {
    const minute = minuteOf(t);
    const end = Math.min(to, minute + MINUTE_MS);
    out.push({ minute, seconds: (end - t) / 1000 });
    t = end;
  }
  return out;
}
