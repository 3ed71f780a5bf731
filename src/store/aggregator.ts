import { errorMessage, isLinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CameraSnapshot, CameraState, DefectEvent, InspectedFrame } from '../types.js';
import { MINUTE_MS, minuteOf, systemClock, type Clock } from '../clock.js';
import { recordLatency } from './latency-histogram.js';
import { classStats, counterDelta, emptyMinute, splitByMinute, VERDICT_COUNT_OF, type MinuteStats } from './minute-stats.js';
import type { VerdictKind } from './types.js';

/** One change of a verdict count: +1 for a verdict given, −1 for the one a replacement supersedes. */
export interface VerdictCount {
  camera: string;
  className: string;
  verdict: VerdictKind;
  delta: 1 | -1;
}

/** Where finished minutes go: `AggregateStore` in production. */
export interface MinuteSink {
  /** Returns how many records went into a later minute than their own (their minute was already uploaded), if it says. */
  writeMinutes(rows: readonly MinuteStats[]): number | void;
}

/** A wall-clock jump this large against the monotonic clock, between two readings, is a step (NTP, a manual set), not drift. */
const STEP_MS = 2000;

export interface AggregatorOptions {
  sink: MinuteSink;
  log: Logger;
  clock?: Clock;
  /**
   * A minute is written this long after it ended, so the camera snapshot that
   * straddles its end still lands in it and each minute costs one transaction.
   * Keep it above the snapshot interval. Default 10 000 ms.
   */
  settleMs?: number;
  /** Delay before writing again after the database refused a write. Default 10 000 ms. */
  retryMs?: number;
  /** Most minutes held in memory while the database refuses writes; beyond it the oldest are dropped and counted. Default 60. */
  maxPendingMinutes?: number;
  /**
   * Whether the camera is degraded now (its health monitor); a frame inspected
   * meanwhile counts in `framesInspectedDegraded` too. Default: never.
   */
  degraded?: (camera: string) => boolean;
}

export interface AggregatorStats {
  /** Minutes held in memory (the current one, plus any the database refused). */
  openMinutes: number;
  /** Camera-minute records written since start. */
  written: number;
  /** Minutes dropped because the database refused writes for longer than `maxPendingMinutes`. */
  droppedMinutes: number;
}

interface Reading {
  /** Monotonic time of the reading: online seconds are a duration. */
  mono: number;
  state: CameraState;
  received: number;
  dropped: Record<string, number>;
  /** The camera's cumulative degraded seconds. */
  degradedSeconds: number;
}

/**
 * Accumulates the pipeline's per-camera statistics in memory, one record per
 * camera per UTC minute, and writes each finished minute in ONE transaction.
 * The hot path (`onInspected`, once per frame) only adds numbers to a map.
 *
 * Attribution: frames received and dropped come from the cameras' cumulative
 * counters and land in the minute of the snapshot that observed them; frames
 * inspected, detections, events and latencies land in the minute (of the
 * aggregator's clock) in which they were reported.
 *
 * @example
 * const aggregator = new MinuteAggregator({ sink: openAggregateStore(path, log), log });
 * line.onInspected((r) => aggregator.onInspected(r, events));
 * setInterval(() => aggregator.onSnapshots(line.cameras(), provider), 5000);
 */
export class MinuteAggregator {
  private readonly sink: MinuteSink;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly settleMs: number;
  private readonly retryMs: number;
  private readonly maxPending: number;
  private readonly degraded: (camera: string) => boolean;
  /** minute → camera → record */
  private readonly open = new Map<number, Map<string, MinuteStats>>();
  private readonly readings = new Map<string, Reading>();
  private timer: unknown = undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private failingSince: number | undefined;
  private closed = false;
  private written = 0;
  private droppedMinutes = 0;
  /** The last wall and monotonic readings, to tell a step of the wall clock. */
  private last: { wall: number; mono: number } | undefined;

  constructor(options: AggregatorOptions) {
    this.sink = options.sink;
    this.log = options.log.child({ stage: 'store' });
    this.clock = options.clock ?? systemClock;
    this.settleMs = options.settleMs ?? 10_000;
    this.retryMs = options.retryMs ?? 10_000;
    this.maxPending = options.maxPendingMinutes ?? 60;
    this.degraded = options.degraded ?? (() => false);
  }

  /** One inspected frame and the events it confirmed. */
  onInspected(result: InspectedFrame, events: readonly DefectEvent[] = []): void {
    if (this.closed) return;
    const now = this.wallNow();
    const m = this.record(result.frame.camera, minuteOf(now));
    m.framesInspected += 1;
    if (this.degraded(result.frame.camera)) m.framesInspectedDegraded += 1;
    recordLatency(m.inspectLatency, result.latencyMs);
    for (const d of result.detections) {
      const c = classStats(m, d.className);
      c.detections += 1;
      c.confidenceSum += d.confidence;
      if (d.confidence > c.confidenceMax) c.confidenceMax = d.confidence;
    }
    for (const e of events) classStats(this.record(e.camera, minuteOf(now)), e.className).events += 1;
    this.settle(now);
  }

  /**
   * Operator verdicts given now: each change lands in the current minute of
   * its camera and class (a replacement brings −1 for the old verdict and +1
   * for the new, so sums over minutes count the latest verdict of each alert).
   */
  onVerdict(counts: readonly VerdictCount[]): void {
    if (this.closed) return;
    const now = this.wallNow();
    for (const c of counts) {
      const stats = classStats(this.record(c.camera, minuteOf(now)), c.className);
      const v = (stats.verdicts ??= { confirmed: 0, falseAlarms: 0, missed: 0 });
      v[VERDICT_COUNT_OF[c.verdict]] += c.delta;
    }
    this.settle(now);
  }

  /** An alert reached the broker: capture → PUBACK latency. */
  onPublished(camera: string, latencyMs: number): void {
    if (this.closed) return;
    const now = this.wallNow();
    recordLatency(this.record(camera, minuteOf(now)).latency, latencyMs);
    this.settle(now);
  }

  /** The cameras' audit trail, every few seconds; `provider` is the detector's active execution provider. */
  onSnapshots(snapshots: readonly CameraSnapshot[], provider: string): void {
    if (this.closed) return;
    const now = this.wallNow();
    const mono = this.clock.monotonic();
    for (const s of snapshots) {
      const previous = this.readings.get(s.id);
      const m = this.record(s.id, minuteOf(now));
      m.framesReceived += counterDelta(previous?.received, s.framesReceived);
      for (const [reason, count] of Object.entries(s.framesDropped)) {
        m.framesDropped[reason] = (m.framesDropped[reason] ?? 0) + counterDelta(previous?.dropped[reason], count);
      }
      m.fpsSum += s.fps;
      m.fpsSamples += 1;
      m.provider = provider;
      // Online time is measured between snapshots: the camera was online from the previous reading to this one
      // (a duration on the monotonic clock, laid on the minutes that end now).
      if (previous?.state === 'online') {
        for (const part of splitByMinute(now - (mono - previous.mono), now)) this.record(s.id, part.minute).secondsOnline += part.seconds;
      }
      this.addDegraded(s, previous, now, mono);
      this.readings.set(s.id, { mono, state: s.state, received: s.framesReceived, dropped: { ...s.framesDropped }, degradedSeconds: s.secondsDegraded ?? 0 });
    }
    this.settle(now);
  }

  /**
   * Degraded time between two snapshots, from the camera's cumulative count
   * (the first reading counts in full, as the other counters): laid on the
   * minutes that end now, never more than the time between the two readings.
   */
  private addDegraded(s: CameraSnapshot, previous: Reading | undefined, now: number, mono: number): void {
    const span = previous ? (mono - previous.mono) / 1000 : Number.POSITIVE_INFINITY;
    const seconds = Math.min(counterDelta(previous?.degradedSeconds, s.secondsDegraded ?? 0), span);
    if (seconds <= 0) return;
    for (const part of splitByMinute(now - seconds * 1000, now)) this.record(s.id, part.minute).secondsDegraded += part.seconds;
  }

  /** Writes every minute that ended at least `settleMs` ago; returns the number of records written. */
  flushDue(now = this.wallNow()): number {
    const due = [...this.open.keys()].filter((minute) => minute + MINUTE_MS + this.settleMs <= now);
    const written = this.write(due);
    this.arm(now);
    return written;
  }

  /**
   * Writes everything held, the current minute included, and stops accepting
   * input. A restart within the same minute adds to the same record. Throws the
   * store's error (E_STORE) when the final write fails.
   */
  close(): number {
    if (this.closed) return 0;
    this.closed = true;
    this.disarm();
    const minutes = [...this.open.keys()];
    const written = this.write(minutes, true);
    return written;
  }

  stats(): AggregatorStats {
    return { openMinutes: this.open.size, written: this.written, droppedMinutes: this.droppedMinutes };
  }

  /**
   * The wall clock now. When it has stepped since the last reading (NTP set it
   * back or forward), every minute held is written first: they belong to the
   * time before the step, and would otherwise wait for the new time to pass
   * their end (an hour, after a step back of an hour).
   */
  private wallNow(): number {
    const wall = this.clock.now();
    const mono = this.clock.monotonic();
    const last = this.last;
    this.last = { wall, mono };
    const step = last ? wall - (last.wall + (mono - last.mono)) : 0;
    if (Math.abs(step) >= STEP_MS) {
      this.log.warn({ step_s: Math.round(step / 1000), held_minutes: this.open.size },
        `the wall clock stepped ${step < 0 ? 'back' : 'forward'} by ${Math.abs(Math.round(step / 1000))} s; statistics held so far are written now and new ones count in the minutes of the new time`);
      this.write([...this.open.keys()]);
    }
    return wall;
  }

  private record(camera: string, minute: number): MinuteStats {
    let cameras = this.open.get(minute);
    if (!cameras) {
      cameras = new Map();
      this.open.set(minute, cameras);
    }
    let m = cameras.get(camera);
    if (!m) {
      m = emptyMinute(camera, minute);
      cameras.set(camera, m);
    }
    return m;
  }

  /** Flushes what is due now, or makes sure a timer will. */
  private settle(now: number): void {
    if (this.failingSince === undefined && this.earliestDue() <= now) this.flushDue(now);
    else this.arm(now);
  }

  private earliestDue(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const minute of this.open.keys()) earliest = Math.min(earliest, minute + MINUTE_MS + this.settleMs);
    return earliest;
  }

  private write(minutes: number[], rethrow = false): number {
    if (minutes.length === 0) return 0;
    minutes.sort((a, b) => a - b);
    const rows = minutes.flatMap((minute) => [...(this.open.get(minute)?.values() ?? [])]);
    let moved;
    try {
      moved = this.sink.writeMinutes(rows);
    } catch (err) {
      this.writeFailed(err);
      if (rethrow) throw err;
      return 0;
    }
    for (const minute of minutes) this.open.delete(minute);
    this.written += rows.length;
    if (moved) {
      this.log.warn({ records: moved }, `${moved} camera-minutes of statistics counted in the first minute not yet uploaded: their own minutes were uploaded already (the wall clock stepped back)`);
    }
    if (this.failingSince !== undefined) {
      this.log.info({ minutes: minutes.length }, 'per-minute statistics written again');
      this.failingSince = undefined;
    }
    return rows.length;
  }

  private writeFailed(err: unknown): void {
    const code = isLinesightError(err) ? err.code : 'E_STORE';
    if (this.failingSince === undefined) {
      this.failingSince = this.clock.now();
      this.log.warn({ code, err: errorMessage(err) },
        `could not write per-minute statistics; holding them in memory (at most ${this.maxPending} minutes) and retrying every ${this.retryMs / 1000} s`);
    }
    const excess = this.open.size - this.maxPending;
    if (excess > 0) {
      const oldest = [...this.open.keys()].sort((a, b) => a - b).slice(0, excess);
      for (const minute of oldest) this.open.delete(minute);
      this.droppedMinutes += excess;
      this.log.warn({ code, dropped: excess, total: this.droppedMinutes }, 'dropped the oldest unwritten per-minute statistics');
    }
  }

  private arm(now: number): void {
    if (this.closed || this.open.size === 0) return this.disarm();
    const at = this.failingSince === undefined ? this.earliestDue() : now + this.retryMs;
    if (this.timer !== undefined && this.timerAt <= at) return;
    this.disarm();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.flushDue();
    }, Math.max(0, at - now));
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}
