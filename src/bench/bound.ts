/**
 * The throughput bound implied by (1) decode and (2) session on this core pool.
 * BENCHMARKS.md explains the formula; in short, with P cores shared by the
 * decoders and the session, every inspected frame costs c_d + c_i core-seconds,
 * so no schedule beats P / (c_d + c_i); session calls are serial, so none beats
 * the session's own rate either; and N decoders cannot beat N × their own rate.
 */
import { round } from './stats.js';
import type { Bound, DecodeResult, SessionResult } from './report.js';

export interface BoundInputs {
  cores: number;
  decode: DecodeResult;
  /** Session results of the `default` variant, by batch size. */
  session: readonly SessionResult[];
  cameras: number;
  batchMax: number;
  /** Frames per second each camera offers to inference (after -r); null: as fast as possible. */
  cameraFps: number | null;
  /** The clip's own rate: a live camera is decoded at it whatever `-r` keeps. */
  clipFps: number;
}

/** The session result for batch `b`, or the nearest smaller measured batch. */
export function sessionFor(session: readonly SessionResult[], b: number): SessionResult {
  const sorted = [...session].sort((x, y) => y.batch - x.batch);
  const hit = sorted.find((s) => s.batch <= b) ?? sorted[sorted.length - 1];
  if (!hit) throw new Error('no session measurement to bound the pipeline with');
  return hit;
}

export function computeBound(input: BoundInputs): Bound {
  const batch = Math.max(1, Math.min(input.cameras, input.batchMax));
  const s = sessionFor(input.session, batch);
  // A paced camera is decoded at its native rate even when -r keeps fewer frames.
  const decodeShare = input.cameraFps === null ? 1 : Math.max(1, input.clipFps / input.cameraFps);
  const cd = (input.decode.cpuMsPerFrame * decodeShare) / 1000;
  const ci = s.cpuMsPerFrame / 1000;
  const cpuBound = input.cores / (cd + ci);
  const sessionBound = s.fps;
  const decodeBound = (input.cameras * input.decode.fps) / decodeShare;
  const offered = input.cameraFps === null ? null : input.cameras * Math.min(input.cameraFps, input.clipFps);
  const terms: Array<[Bound['limitedBy'], number]> = [['cpu', cpuBound], ['session', sessionBound], ['decode', decodeBound]];
  if (offered !== null) terms.push(['offered', offered]);
  const [limitedBy, fps] = terms.reduce((a, b) => (b[1] < a[1] ? b : a));
  return {
    fps: round(fps),
    limitedBy,
    cpuBound: round(cpuBound),
    sessionBound: round(sessionBound),
    decodeBound: round(decodeBound),
    harmonic: round(1 / (1 / input.decode.fps + 1 / s.fps)),
    offered: offered === null ? null : round(offered),
    batch: s.batch,
    availableCores: null,
    availableFps: null,
  };
}

/** The same bound on the cores other processes left free during the run (`otherBusyPct` of one core). */
export function withAvailableCores(bound: Bound, cores: number, otherBusyPct: number): Bound {
  const available = Math.max(0.05 * cores, cores - otherBusyPct / 100);
  const terms = [bound.cpuBound * (available / cores), bound.sessionBound, bound.decodeBound, bound.offered ?? Infinity];
  return { ...bound, availableCores: round(available), availableFps: round(Math.min(...terms)) };
}
