/** What a camera is to the rest of the pipeline: its frames and pictures, its state, and the counts later stages add to it. */
import type { EventEmitter } from 'node:events';
import type { CameraSnapshot, CameraState, DropReason, Frame } from '../types.js';

export interface CameraEvents {
  frame: [Frame];
  /** A frame already handed on got its full-size picture (`rgb`). */
  picture: [Frame];
  state: [CameraState, CameraState];
}

/** What the rest of the pipeline sees of a camera. */
export interface FrameSource extends EventEmitter<CameraEvents> {
  readonly id: string;
  start(): void;
  stop(): Promise<void>;
  snapshot(): CameraSnapshot;
  /** Counted by later stages (inference), reported with the camera. */
  countInspected(n?: number): void;
  countDropped(reason: DropReason, n?: number): void;
  /** A later stage is done with the frame's model input (inferred or dropped): its buffer may be reused. */
  release(frame: Frame): void;
  /** The running ffmpeg's pid, if any (tests and diagnostics). */
  readonly pid: number | undefined;
}
