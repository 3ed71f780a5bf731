/**
 * The messages between the main thread and an inference worker
 * (session-worker.ts). workerData carries the model path and its
 * `SessionOptions`; the worker answers `{ opened }` or `{ failed }` once, then
 * one `{ id, output }` or `{ id, error }` per `{ id, … }` request, and exits
 * after `{ release }`.
 *
 * Errors cross the boundary as `{ code, message, details }`: structured clone
 * keeps an Error's message but not its class or own properties, so a
 * `LinesightError` is rebuilt on this side with the code it was thrown with.
 */
import { ErrorCodes, errorMessage, isLinesightError, LinesightError, type ErrorCode } from '../errors.js';
import type { TensorInput } from '../preprocess/tensor.js';
import type { ProviderName, SessionOptions } from './session.js';

export interface WorkerInit {
  path: string;
  options: SessionOptions;
}

export interface RunRequest {
  id: number;
  input: TensorInput;
  batch: number;
  /**
   * Packed RGB24 images at the input's size, written into the worker's own
   * tensor. Those in shared memory (SharedArrayBuffer: a letterboxing
   * camera's InputPool) reach the worker without a copy; others are copied.
   */
  images: Uint8Array[];
}

export interface RunOutput {
  type: string;
  data: Float32Array;
  dims: number[];
}

export interface WireError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface Opened {
  provider: ProviderName;
  skipped: Array<{ provider: ProviderName; reason: string }>;
  outputNames: string[];
}

export type WorkerReply =
  | { opened: Opened }
  | { failed: WireError }
  | { id: number; output: RunOutput }
  | { id: number; error: WireError };

/** Any thrown value as it crosses to the main thread: its own code when it has one, else `fallback`. */
export function toWireError(err: unknown, fallback: ErrorCode): WireError {
  if (isLinesightError(err)) return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) };
  return { code: fallback, message: errorMessage(err) };
}

/** The error a worker reported, as the LinesightError it was (a code this build does not know becomes `fallback`). */
export function fromWireError(wire: WireError, fallback: ErrorCode): LinesightError {
  const code = Object.hasOwn(ErrorCodes, wire.code) ? (wire.code as ErrorCode) : fallback;
  return new LinesightError(code, wire.message, wire.details ? { details: wire.details } : undefined);
}
