import type { Frame } from '../types.js';

/**
 * How far a frame's stream time may run ahead of the wall clock since the
 * frame before it. A camera that stalls and then sends its backlog in a burst
 * stays well inside it; a stream whose clock jumps (a camera that restarted
 * its encoder, a file with a gap) does not, and the clock is re-anchored there.
 */
export const MAX_LEAD_MS = 5000;
/**
 * Frames (or times) of a run that wait for their other half; ffmpeg writes both
 * within a frame or two. Small, because a waiting frame holds its pictures.
 */
const WAITING_MAX = 4;

/**
 * Times a camera's frames by the stream's own clock (`Frame.mediaTs`), not by
 * when their bytes happened to arrive.
 *
 * The tracker predicts a part's box by velocity × Δt. Timed by arrival, a
 * frame delayed by a busy CPU (or a camera's network burst) looks as if the
 * part had moved further in less time, and its defect falls outside its own
 * prediction: one defect, two alerts. ffmpeg reports each frame's timestamp
 * on stderr (`FRAME_TIMES_FILTER`); this pairs those reports with the frames
 * by index (the two come on different pipes, in either order) and places them
 * on the wall-clock epoch: a decoder run is anchored at its first frame's
 * capture time, and never before the last time given in an earlier run, so
 * media time only goes forwards, across restarts too.
 *
 * A frame whose time has not come yet gets an estimate from the wall clock
 * (the old rule) and is corrected when its time comes; the tracker reads
 * `mediaTs` only once the frame has been inferred, by which time it has.
 * A time that goes backwards or leaps ahead (`MAX_LEAD_MS`) re-anchors the run.
 */
export class FrameClock {
  private readonly interval: number;
  /** Times that came before their frame, by frame index (this run). */
  private readonly times = new Map<number, number>();
  /** Frames stamped by estimate, waiting for their time (this run). */
  private readonly estimated = new Map<number, Frame>();
  /** Stream time `pts` is media time `media` (this run; moved at a jump). */
  private anchor = { pts: 0, media: 0 };
  /** The last frame timed by the stream (this run). */
  private prev: { pts: number; capture: number; media: number } | null = null;
  /** The newest frame stamped (any run): where estimates start from. */
  private last: { n: number; media: number; capture: number } | null = null;
  /** The last frame of the runs before this one: where this run starts from. */
  private floor: { media: number; capture: number } | null = null;

  /**
   * @param fps the camera's analysed frame rate: the least step where the stream's clock jumps
   * @param paced whether arrival times follow the stream (live cameras, real-time files); a file
   *   replayed as fast as possible steps one frame interval at a jump, whatever the wall clock did
   */
  constructor(fps: number, private readonly paced: boolean) {
    this.interval = 1000 / fps;
  }

  /** A new decoder run: its frames count from 0 again, and its stream clock starts anywhere. */
  newRun(): void {
    this.times.clear();
    this.estimated.clear();
    this.prev = null;
    if (this.last) {
      this.floor = { media: this.last.media, capture: this.last.capture };
      this.last.n = -1;
    }
  }

  /** Frame `n` of this run has arrived: stamps it now if its time is known, else estimates and waits. */
  frame(n: number, frame: Frame): void {
    const ms = this.times.get(n);
    this.times.delete(n);
    this.stamp(n, frame, ms ?? NaN);
    if (ms === undefined) {
      this.estimated.set(n, frame);
      trim(this.estimated);
    }
  }

  /** ffmpeg's report of frame `n`'s stream time (ms; NaN when it has none). */
  time(n: number, ms: number): void {
    const frame = this.estimated.get(n);
    if (frame) {
      // Frames before it that are still waiting get no time now (ffmpeg reports in order): they keep their estimates.
      for (const k of this.estimated.keys()) if (k <= n) this.estimated.delete(k);
      if (Number.isFinite(ms)) this.stamp(n, frame, ms);
    } else if (n > (this.last?.n ?? -1)) {
      this.times.set(n, ms);
      trim(this.times);
    }
  }

  private stamp(n: number, frame: Frame, pts: number): void {
    const capture = frame.captureTs;
    let media: number;
    if (!Number.isFinite(pts)) {
      media = this.last ? this.last.media + Math.max(0, capture - this.last.capture) : capture;
    } else {
      const prev = this.prev;
      const continuous = prev !== null && pts > prev.pts && pts - prev.pts <= Math.max(0, capture - prev.capture) + MAX_LEAD_MS;
      if (!continuous) {
        // The run's first time, or a jump in the stream's clock: anchor here, a step after the time before.
        const before = prev ?? this.floor;
        this.anchor = { pts, media: before ? before.media + this.step(capture - before.capture) : capture };
      }
      media = this.anchor.media + (pts - this.anchor.pts);
      this.prev = { pts, capture, media };
    }
    frame.mediaTs = media;
    if (!this.last || n >= this.last.n) this.last = { n, media, capture };
  }

  /** Media time between two frames where the stream's clock cannot say. */
  private step(wallMs: number): number {
    return this.paced ? Math.max(this.interval, wallMs) : this.interval;
  }
}

function trim<V>(waiting: Map<number, V>): void {
  while (waiting.size > WAITING_MAX) waiting.delete(waiting.keys().next().value!);
}
