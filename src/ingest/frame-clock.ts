/**
 * How far a frame's stream time may run ahead of its arrival time since the
 * frame before it. A camera that stalls and then sends its backlog in a burst
 * stays well inside it; a stream whose clock jumps (a camera that restarted
 * its encoder, a file with a gap) does not, and the clock is re-anchored there.
 */
export const MAX_LEAD_MS = 5000;
/**
 * Frame times of a run kept for frames not placed yet. ffmpeg writes both
 * within a frame of each other, but after the event loop was held up the
 * times of a second or more of frames can be read before the frames.
 */
const WAITING_MAX = 16;

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
 * on the monotonic clock's timeline (arrival times are `Clock.monotonic`
 * readings, so a step of the wall clock cannot bend the tracker's Δt): a
 * decoder run is anchored at its first frame's arrival, and never before the
 * last time given in an earlier run, so media time only goes forwards, across
 * restarts too.
 *
 * A pure unit: the camera asks whether frame n's time was reported
 * (`reported`), waits a little for it if not, then places the frame once
 * (`place`), with its time or, when the time is late or missing, an estimate
 * from the arrival times since the newest frame placed. Frames are placed in
 * order. A time that goes backwards or leaps ahead (`MAX_LEAD_MS`) re-anchors
 * the run.
 *
 * @example
 * const clock = new FrameClock(10, true);
 * clock.time(0, 8533);                 // ffmpeg's report for frame 0 (ms of stream time)
 * clock.place(0, performance.now());   // frame 0's media time: its arrival (the run's anchor)
 * clock.reported(1);                   // false: wait a little, then place it by estimate
 */
export class FrameClock {
  private readonly interval: number;
  /** Times reported for frames not placed yet, by frame index (this run). */
  private readonly times = new Map<number, number>();
  /** Stream time `pts` is media time `media` (this run; moved at a jump). */
  private anchor = { pts: 0, media: 0 };
  /** The last frame timed by the stream (this run). */
  private prev: { pts: number; capture: number; media: number } | null = null;
  /** The newest frame placed (any run): where estimates start from, and what no later frame goes before. */
  private last: { n: number; media: number; capture: number } | null = null;
  /** The last frame of the runs before this one: where this run starts from. */
  private floor: { media: number; capture: number } | null = null;

  /**
   * @param fps the camera's analysed frame rate: the least step where the stream's clock jumps
   * @param paced whether arrival times follow the stream (live cameras, real-time files); a file
   *   replayed as fast as possible steps one frame interval at a jump, whatever the arrival times say
   */
  constructor(fps: number, private readonly paced: boolean) {
    this.interval = 1000 / fps;
  }

  /** A new decoder run: its frames count from 0 again, and its stream clock starts anywhere. */
  newRun(): void {
    this.times.clear();
    this.prev = null;
    if (this.last) {
      this.floor = { media: this.last.media, capture: this.last.capture };
      this.last.n = -1;
    }
  }

  /** ffmpeg's report of frame `n`'s stream time (ms; NaN when it has none). */
  time(n: number, ms: number): void {
    if (n <= (this.last?.n ?? -1)) return; // that frame was placed already, by estimate
    this.times.set(n, ms);
    while (this.times.size > WAITING_MAX) this.times.delete(this.times.keys().next().value!);
  }

  /** Whether ffmpeg's report for frame `n` has come (with a time or without one). */
  reported(n: number): boolean {
    return this.times.has(n);
  }

  /** Frame `n` of this run, captured at `captureTs`: its media time, from its reported time, else estimated. */
  place(n: number, captureTs: number): number {
    const pts = this.times.get(n) ?? NaN;
    for (const k of this.times.keys()) if (k <= n) this.times.delete(k);
    const media = Number.isFinite(pts) ? this.fromStream(pts, captureTs) : this.estimate(captureTs);
    this.last = { n, media, capture: captureTs };
    return media;
  }

  /** A frame without a time: the newest frame's media time plus the time since it came. */
  private estimate(capture: number): number {
    return this.last ? this.last.media + Math.max(0, capture - this.last.capture) : capture;
  }

  private fromStream(pts: number, capture: number): number {
    const prev = this.prev;
    const continuous = prev !== null && pts > prev.pts && pts - prev.pts <= Math.max(0, capture - prev.capture) + MAX_LEAD_MS;
    if (!continuous) {
      // The run's first time, or a jump in the stream's clock: anchor here, a step after the time before.
      const before = prev ?? this.floor;
      this.anchor = { pts, media: before ? before.media + this.step(capture - before.capture) : capture };
    }
    // Never before the newest frame, which may have been placed by an estimate that ran ahead.
    const media = Math.max(this.anchor.media + (pts - this.anchor.pts), this.last?.media ?? -Infinity);
    this.prev = { pts, capture, media };
    return media;
  }

  /** Media time between two frames where the stream's clock cannot say. */
  private step(arrivalMs: number): number {
    return this.paced ? Math.max(this.interval, arrivalMs) : this.interval;
  }
}
