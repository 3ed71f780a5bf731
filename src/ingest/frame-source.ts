/** What a camera is to the rest of the pipeline: its frames, its pictures and its state. */
import type { EventEmitter } from 'node:events';
import type { CameraSnapshot, CameraState, Frame, Picture } from '../types.js';

export interface CameraEvents {
  /** A frame with its model input (immutable; the input is released by whoever consumes it). */
  frame: [Frame];
  /** A frame's full-size picture (every k-th frame), usually just after its frame; hold it to keep it past the call. */
  picture: [Picture];
  state: [CameraState, CameraState];
}

/**
 * What the rest of the pipeline sees of a camera. Coverage counts go to the
 * line's `CoverageLedger`, not back into the camera; flow control comes as
 * credits the consumer grants.
 */
export interface FrameSource extends EventEmitter<CameraEvents> {
  readonly id: string;
  start(): void;
  stop(): Promise<void>;
  /** State, rate, restarts and the ledger's counts for this camera. */
  snapshot(): CameraSnapshot;
  /**
   * The consumer took a frame and has room for `n` more. A file replayed as
   * fast as possible sends a frame only against a credit (one is granted at
   * start), keeps the next decoded behind it and leaves ffmpeg blocked on its
   * pipe meanwhile; a live camera ignores credits (its old frames are dropped
   * downstream, never queued).
   */
  grant(n?: number): void;
  /** The running ffmpeg's pid, if any (tests and diagnostics). */
  readonly pid: number | undefined;
}
