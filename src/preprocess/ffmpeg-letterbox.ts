import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { LinesightError } from '../errors.js';
import { letterboxFilterGraph, letterboxOutputOptions } from '../ingest/ffmpeg-args.js';
import { parseDecodedSize } from '../ingest/ffmpeg-stderr.js';
import { adaptArgsToFfmpeg, probeFfmpegVersion, type FfmpegVersion } from '../ingest/hwaccel.js';
import { LETTERBOX_PAD } from './letterbox.js';

/** One picture as a letterboxing camera hands it to the model. */
export interface LetterboxedPicture {
  /** The picture's own size, as ffmpeg decoded it: the frame boxes map back to. */
  width: number;
  height: number;
  /** The model input: packed RGB24 at the requested size, letterboxed with grey 114. */
  input: Buffer;
}

let version: FfmpegVersion | undefined | null = null;
/** The ffmpeg in use, probed once per process (older builds need older flag names, as for the cameras). */
function installedVersion(): FfmpegVersion | undefined {
  if (version === null) version = probeFfmpegVersion();
  return version;
}

/** The whole command line: the cameras' letterbox graph and outputs (model input on stdout, full-size view on fd 3). */
function letterboxArgs(inputArgs: readonly string[], size: { width: number; height: number }): string[] {
  const plan = { ...size, pictureEvery: 1, pad: LETTERBOX_PAD };
  // The graph's rate limit keeps a lone picture (the first frame is always kept), so any rate will do.
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+verbose', ...inputArgs,
    '-filter_complex', letterboxFilterGraph(1, plan), ...letterboxOutputOptions()];
  return adaptArgsToFfmpeg(args, installedVersion());
}

/**
 * Letterboxes one picture to the model input with ffmpeg, through the very
 * filter graph and outputs a letterboxing camera runs (`letterboxFilterGraph`:
 * same scaler, same rounding, same grey), so what is measured offline
 * (`linesight eval-model`) is what the line sees. `inputArgs` name the picture
 * as ffmpeg takes it: `['-i', 'part.png']`, or raw RGB24 with its size.
 *
 * @example
 * const { width, height, input } = await letterboxPicture(['-i', 'data/model-test/0001.png'], { width: 320, height: 320 });
 */
export async function letterboxPicture(inputArgs: readonly string[], size: { width: number; height: number }): Promise<LetterboxedPicture> {
  const what = inputArgs.at(-1) ?? 'the input';
  const { input, stderr } = await runFfmpeg(letterboxArgs(inputArgs, size), what);
  const decoded = stderr.split('\n').map(parseDecodedSize).find((s) => s !== undefined);
  if (!decoded) {
    throw new LinesightError('E_FRAME_SIZE', `Expected ffmpeg to report the decoded size of ${what} but it did not (${lastLines(stderr)})`);
  }
  const bytes = size.width * size.height * 3;
  if (input.length !== bytes) {
    throw new LinesightError('E_FRAME_SIZE', `Expected one ${size.width}×${size.height} RGB24 picture (${bytes} bytes) from ${what} but ffmpeg wrote ${input.length} bytes`);
  }
  return { ...decoded, input };
}

/** Runs ffmpeg on `what` to its end: what it wrote on stdout, and its log; the view on fd 3 is read and let go. */
function runFfmpeg(args: string[], what: string): Promise<{ input: Buffer; stderr: string }> {
  const bin = process.env.LINESIGHT_FFMPEG ?? 'ffmpeg';
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const [, out, log, view] = child.stdio as unknown as [null, Readable, Readable, Readable];
    const chunks: Buffer[] = [];
    let stderr = '';
    out.on('data', (c: Buffer) => chunks.push(c));
    view.resume();
    log.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.once('error', (err) => reject(new LinesightError('E_ARGUMENT', `Expected to run ffmpeg (${bin}) but could not: ${err.message}`, { cause: err })));
    child.once('close', (code) => {
      if (code === 0) resolve({ input: Buffer.concat(chunks), stderr });
      else reject(new LinesightError('E_ARGUMENT', `Expected ffmpeg to decode ${what} but it exited with code ${code} (${lastLines(stderr)})`));
    });
  });
}

function lastLines(stderr: string): string {
  return stderr.trim().split('\n').slice(-3).join(' | ');
}
