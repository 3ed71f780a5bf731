/**
 * The one catalogue of linesight errors. Every error a user or an integrator can
 * see carries a stable `code`; tests assert the code, people read the message.
 * A message says what was expected and what was found.
 */
export const ErrorCodes = {
  E_CONFIG: 'the configuration file is invalid',
  E_CONFIG_READ: 'the configuration file cannot be read or parsed',
  E_MODEL_NOT_FOUND: 'the model file does not exist',
  E_MODEL_LOAD: 'onnxruntime could not load the model',
  E_MODEL_SHAPE: 'the model input is not an image tensor linesight can feed',
  E_MODEL_LAYOUT: 'the model output layout is not one linesight can decode',
  E_PROVIDER: 'no configured execution provider could run the model',
  E_MODEL_REF: 'no model on this box matches the version or hash given, or none to roll back to',
  E_INFERENCE: 'onnxruntime failed to run the model on a batch',
  E_CAMERA_UNREACHABLE: 'the camera could not be reached',
  E_CAMERA_STREAM: 'the camera stream is not decodable video',
  E_CAMERA_STALL: 'the camera delivered no frame within the stall timeout',
  E_CAMERA_RESIZE: 'the camera changed its resolution mid-stream',
  E_FRAME_SIZE: 'a frame does not have the expected size',
  E_ARGUMENT: 'a function received an argument of the wrong kind',
  E_STORE: 'the SQLite store failed',
  E_STORE_CORRUPT: 'the SQLite database failed its integrity check',
  E_OUTBOX_FULL: 'the outbox reached its configured bound',
  E_MQTT: 'the MQTT broker refused or dropped the connection',
  E_SYNC: 'the cloud upload failed',
  E_OVERLAY_LISTEN: 'the operator page could not listen on its address',
  E_CLI: 'the command line is not valid',
  E_DATASET: 'a dataset cannot be exported from the given store, period or folder',
  E_PICTURE: 'a picture kept for training could not be encoded, written or removed',
  E_CONTEXT: 'a production context message is not one linesight can read',
  E_RECIPE: 'a recipe was refused (unknown, malformed, or its model cannot run)',
  E_SPARKPLUG: 'a Sparkplug message (command, host state) is not one linesight can read',
  E_SD_NOTIFY: 'a systemd notification could not be sent',
  E_WATCHDOG: 'the pipeline stopped making progress; the systemd watchdog is no longer fed',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class LinesightError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LinesightError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isLinesightError(err: unknown, code?: ErrorCode): err is LinesightError {
  return err instanceof LinesightError && (code === undefined || err.code === code);
}

/** Describes a received value for an error message: `"ten" (string)`, `-3 (number)`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${String(value)} (${typeof value})`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `a ${typeof value}`;
}

/** The message of any thrown value, without losing non-Error throws. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
