/**
 * Test clips: small H.264 MP4s with coloured squares at exact pixel positions,
 * made with the real ffmpeg and cached by spec in `os.tmpdir()/linesight-clips`.
 *
 * The picture is drawn in RGB (so positions are exact to the pixel) and then
 * converted to yuv420p for libx264. Chroma subsampling blurs colour edges by
 * about a pixel; the insides of the squares keep their colour
 * (pure red decodes to about 253,0,0 on the 64,64,64 grey background).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LinesightError, describeValue } from '../../src/errors.js';
import type { Box } from '../../src/types.js';

const execFileAsync = promisify(execFile);

/** Bump when the generated picture changes, so stale cached clips are not reused. */
const GENERATOR_VERSION = 1;

export const CLIP_CACHE_DIR = join(tmpdir(), 'linesight-clips');

/** `darkgreen` (0, 120, 0) is green only to a model that counts green from a lower level (squares-v8-fixture2). */
export type SquareColor = 'red' | 'green' | 'blue' | 'darkgreen';

/** Colours as they are drawn, before yuv420p; decoded values differ by a few units. */
export const SQUARE_RGB: Readonly<Record<SquareColor, readonly [number, number, number]>> = {
  red: [255, 0, 0],
  green: [0, 255, 0],
  blue: [0, 0, 255],
  darkgreen: [0, 120, 0],
};
export const BACKGROUND_RGB: readonly [number, number, number] = [64, 64, 64];

export interface SquareSpec {
  color: SquareColor;
  /** Top-left corner at t = 0, pixels; may start partly or wholly outside the frame. */
  x: number;
  y: number;
  w: number;
  h: number;
  /** Visible from this time on (inclusive), seconds. Default: from the start. */
  from?: number;
  /** Hidden from this time on (exclusive), seconds. Default: to the end. */
  to?: number;
  /** Horizontal speed in pixels per second; see {@link squareAt} for the exact rounding. */
  vx?: number;
}

export interface ClipSpec {
  /** Even, because yuv420p halves the chroma planes. */
  width: number;
  height: number;
  /** Integer frames per second. Default 10. */
  fps?: number;
  /** Length; the clip has `round(seconds * fps)` frames. */
  seconds: number;
  /** Drawn in order: a later square covers an earlier one. */
  squares?: SquareSpec[];
  /** Keyframe interval in frames. Default: one keyframe per second (`fps`). */
  gop?: number;
}

interface NormalSquare {
  color: SquareColor;
  x: number;
  y: number;
  w: number;
  h: number;
  from: number;
  to: number | null;
  vx: number;
}

interface NormalSpec {
  width: number;
  height: number;
  fps: number;
  frames: number;
  gop: number;
  squares: NormalSquare[];
}

/** Within-frame index: frame k shows time k / fps. */
function firstFrameAtOrAfter(seconds: number, fps: number): number {
  // The epsilon keeps 0.3 s × 10 fps on frame 3 despite 0.3 × 10 = 3.0000000000000004.
  return Math.ceil(seconds * fps - 1e-9);
}

/**
 * Where a square is on frame `frameIndex` (time `frameIndex / fps`), or `null` when it is
 * hidden then. The clip draws exactly this box: `x + floor(vx * k / fps)` (ffmpeg and this
 * function do the same double arithmetic). The box may extend past the frame's edges.
 *
 * @example
 * squareAt({ color: 'green', x: 10, y: 5, w: 8, h: 8, vx: 25 }, 3, 10); // { x: 17, y: 5, w: 8, h: 8 }
 */
export function squareAt(square: SquareSpec, frameIndex: number, fps = 10): Box | null {
  const from = firstFrameAtOrAfter(square.from ?? 0, fps);
  const to = square.to === undefined ? Infinity : firstFrameAtOrAfter(square.to, fps);
  if (frameIndex < from || frameIndex >= to) return null;
  const dx = Math.floor(((square.vx ?? 0) * frameIndex) / fps + 1e-9);
  return { x: square.x + dx, y: square.y, w: square.w, h: square.h };
}

function fail(message: string): never {
  throw new LinesightError('E_ARGUMENT', message);
}

function expectInteger(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(`Expected an integer >= ${min} for ${name} but received ${describeValue(value)}`);
  }
  return value;
}

function expectFinite(value: unknown, name: string, min = -Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    fail(`Expected a finite number >= ${min} for ${name} but received ${describeValue(value)}`);
  }
  return value;
}

function normaliseSquare(square: SquareSpec, i: number): NormalSquare {
  const name = `squares[${i}]`;
  if (!Object.hasOwn(SQUARE_RGB, square?.color)) {
    fail(`Expected 'red', 'green', 'blue' or 'darkgreen' for ${name}.color but received ${describeValue(square?.color)}`);
  }
  const from = square.from === undefined ? 0 : expectFinite(square.from, `${name}.from`, 0);
  const to = square.to === undefined ? null : expectFinite(square.to, `${name}.to`, 0);
  if (to !== null && to <= from) fail(`Expected ${name}.to (${to}) to be after ${name}.from (${from})`);
  return {
    color: square.color,
    x: expectInteger(square.x, `${name}.x`, -100_000),
    y: expectInteger(square.y, `${name}.y`, -100_000),
    w: expectInteger(square.w, `${name}.w`, 1),
    h: expectInteger(square.h, `${name}.h`, 1),
    from,
    to,
    vx: square.vx === undefined ? 0 : expectFinite(square.vx, `${name}.vx`),
  };
}

function normaliseSpec(spec: ClipSpec): NormalSpec {
  if (typeof spec !== 'object' || spec === null) fail(`Expected a clip spec object but received ${describeValue(spec)}`);
  const width = expectInteger(spec.width, 'width', 2);
  const height = expectInteger(spec.height, 'height', 2);
  if (width % 2 !== 0 || height % 2 !== 0) {
    fail(`Expected even width and height (yuv420p) but received ${width}×${height}`);
  }
  const fps = spec.fps === undefined ? 10 : expectInteger(spec.fps, 'fps', 1);
  const seconds = expectFinite(spec.seconds, 'seconds', 0);
  const frames = Math.round(seconds * fps);
  if (frames < 1) fail(`Expected seconds × fps to make at least one frame but ${seconds} s × ${fps} fps makes none`);
  const gop = spec.gop === undefined ? fps : expectInteger(spec.gop, 'gop', 1);
  if (spec.squares !== undefined && !Array.isArray(spec.squares)) {
    fail(`Expected an array for squares but received ${describeValue(spec.squares)}`);
  }
  return { width, height, fps, frames, gop, squares: (spec.squares ?? []).map(normaliseSquare) };
}

function hex([r, g, b]: readonly [number, number, number]): string {
  return `0x${((r << 16) | (g << 8) | b).toString(16).padStart(6, '0')}`;
}

/** `k`, the frame index, recovered exactly from ffmpeg's `t = k × (1 / fps)`. */
function frameIndexExpr(fps: number): string {
  return `round(t*${fps})`;
}

function enableOption(square: NormalSquare, fps: number): string {
  const from = firstFrameAtOrAfter(square.from, fps);
  const k = frameIndexExpr(fps);
  if (square.to === null) return from === 0 ? '' : `:enable='gte(${k},${from})'`;
  return `:enable='between(${k},${from},${firstFrameAtOrAfter(square.to, fps) - 1})'`;
}

/**
 * The ffmpeg filter graph. Still squares use `drawbox`; moving ones use `overlay`, because
 * drawbox in ffmpeg 5.1 evaluates x only once (its `t` is NaN then). Both work on rgb24 so
 * that odd positions are not rounded to the chroma grid.
 */
function filterGraph(spec: NormalSpec): string {
  const parts: string[] = [];
  let chain = `color=c=${hex(BACKGROUND_RGB)}:s=${spec.width}x${spec.height}:r=${spec.fps},format=rgb24`;
  let label = 0;
  spec.squares.forEach((sq, i) => {
    const enable = enableOption(sq, spec.fps);
    if (sq.vx === 0) {
      chain += `,drawbox=x=${sq.x}:y=${sq.y}:w=${sq.w}:h=${sq.h}:color=${hex(SQUARE_RGB[sq.color])}:t=fill${enable}`;
      return;
    }
    parts.push(`${chain}[bg${label}]`);
    parts.push(`color=c=${hex(SQUARE_RGB[sq.color])}:s=${sq.w}x${sq.h}:r=${spec.fps},format=rgb24[sq${i}]`);
    const x = `${sq.x}+floor(${sq.vx}*${frameIndexExpr(spec.fps)}/${spec.fps}+1e-9)`;
    chain = `[bg${label}][sq${i}]overlay=x='${x}':y=${sq.y}:format=rgb:eval=frame${enable}`;
    label += 1;
  });
  parts.push(`${chain},format=yuv420p[out]`);
  return parts.join(';');
}

function encodeArgs(spec: NormalSpec, output: string): string[] {
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-filter_complex', filterGraph(spec),
    '-map', '[out]',
    '-frames:v', String(spec.frames),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency',
    '-pix_fmt', 'yuv420p', '-g', String(spec.gop), '-bf', '0',
    '-movflags', '+faststart',
    '-f', 'mp4', '-y', output,
  ];
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).size > 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function encode(spec: NormalSpec, path: string): Promise<string> {
  if (await exists(path)) return path;
  await mkdir(CLIP_CACHE_DIR, { recursive: true });
  // Write aside and rename, so a parallel test file never reads a half-written clip.
  const partial = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await execFileAsync('ffmpeg', encodeArgs(spec, partial), { maxBuffer: 4 * 1024 * 1024 });
    await rename(partial, path);
  } catch (err) {
    await rm(partial, { force: true });
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`ffmpeg could not make the clip ${JSON.stringify(spec)}: ${stderr || String(err)}`, { cause: err });
  }
  return path;
}

const pending = new Map<string, Promise<string>>();

/**
 * Makes (or finds in the cache) an H.264 MP4 for `spec` and returns its path.
 * Grey 0x404040 background, pure-colour squares, libx264 ultrafast/zerolatency,
 * no B-frames, a keyframe every `gop` frames, `+faststart`.
 *
 * @example
 * const clip = await makeClip({
 *   width: 320, height: 240, seconds: 2,
 *   squares: [
 *     { color: 'red', x: 100, y: 60, w: 80, h: 80 },                  // all the time
 *     { color: 'blue', x: 0, y: 0, w: 16, h: 16, from: 0.5, to: 1 },   // frames 5..9
 *     { color: 'green', x: 0, y: 200, w: 16, h: 16, vx: 20 },          // 2 px per frame
 *   ],
 * });
 */
export function makeClip(spec: ClipSpec): Promise<string> {
  const normal = normaliseSpec(spec);
  const key = createHash('sha256')
    .update(JSON.stringify({ v: GENERATOR_VERSION, ...normal }))
    .digest('hex')
    .slice(0, 20);
  const path = join(CLIP_CACHE_DIR, `${normal.width}x${normal.height}-${key}.mp4`);
  let job = pending.get(path);
  if (job === undefined) {
    job = encode(normal, path).finally(() => pending.delete(path));
    pending.set(path, job);
  }
  return job;
}

/**
 * Writes `bytes` random bytes to `path` (a file that no demuxer recognises) and returns `path`.
 */
export async function makeGarbageFile(path: string, bytes = 64 * 1024): Promise<string> {
  if (typeof path !== 'string' || path === '') fail(`Expected a file path but received ${describeValue(path)}`);
  expectInteger(bytes, 'bytes', 1);
  await writeFile(path, randomBytes(bytes));
  return path;
}

/** RGB of pixel (x, y) in a packed rgb24 frame. */
export function pixelAt(rgb: Buffer, width: number, x: number, y: number): [number, number, number] {
  const i = (y * width + x) * 3;
  return [rgb[i], rgb[i + 1], rgb[i + 2]];
}

/** A camera fault drawn into a clip (see {@link makeFaultClip}). */
export type FaultKind = 'freeze' | 'black' | 'cover' | 'blur' | 'shift' | 'still';

export interface FaultSpec {
  kind: FaultKind;
  /** Seconds; the fault shows on every frame with `from <= t <= to`. */
  from: number;
  to: number;
}

export interface FaultClipSpec {
  seconds: number;
  faults?: FaultSpec[];
}

/** Width, height, rate and keyframe interval of fault clips: a 1 s GOP, as IP cameras send. */
export const FAULT_CLIP = { width: 640, height: 360, fps: 10, gop: 10 } as const;
/** How far `shift` moves the scene: 48 px right and 8 px down (7.5 % of the width). */
export const FAULT_SHIFT = { x: 48, y: 8 } as const;

/**
 * The filter graph: ffmpeg's testsrc2 (colour bars and gradients that stay,
 * a ball and a clock that move) as the scene; what happens in front of the
 * sensor (black, cover, blur, shift, a scene that stops moving) is drawn
 * before the sensor noise (`noise`, temporal, so that no two live frames are
 * alike); a stuck encoder (`freeze`) repeats a whole noisy frame after it.
 */
function faultGraph(spec: FaultClipSpec): string {
  const { width: w, height: h, fps } = FAULT_CLIP;
  const on = (f: FaultSpec) => `between(t,${f.from},${f.to})`;
  const frame = (t: number) => Math.round(t * fps);
  const faults = spec.faults ?? [];
  const steps: string[] = [`testsrc2=s=${w}x${h}:r=${fps}:d=${spec.seconds}`];
  let n = 0;
  const freezeAt = (f: FaultSpec) => {
    steps.push(`split[f${n}a][f${n}b];[f${n}a][f${n}b]freezeframes=first=${frame(f.from)}:last=${frame(f.to)}:replace=${frame(f.from)}`);
    n++;
  };
  for (const f of faults) {
    if (f.kind === 'still') freezeAt(f);
    if (f.kind === 'black') steps.push(`drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='${on(f)}'`);
    if (f.kind === 'cover') steps.push(`drawbox=x=0:y=0:w=iw:h=ih:color=0x303030:t=fill:enable='${on(f)}'`);
    if (f.kind === 'blur') steps.push(`boxblur=6:enable='${on(f)}'`);
    if (f.kind === 'shift') {
      const m = 64;
      steps.push(`pad=iw+${2 * m}:ih+${2 * m}:${m}:${m},crop=${w}:${h}:'${m}-if(${on(f)},${FAULT_SHIFT.x},0)':'${m}-if(${on(f)},${FAULT_SHIFT.y},0)'`);
    }
  }
  steps.push('noise=alls=6:allf=t');
  for (const f of faults) if (f.kind === 'freeze') freezeAt(f);
  return `${steps.join(',')},format=yuv420p[out]`;
}

/**
 * Makes (or finds in the cache) a 640×360 H.264 MP4 of a live-looking scene
 * with sensor noise and camera faults at known times, and returns its path.
 *
 * @example
 * const clip = await makeFaultClip({ seconds: 20, faults: [{ kind: 'blur', from: 7, to: 13 }] });
 */
export function makeFaultClip(spec: FaultClipSpec): Promise<string> {
  expectFinite(spec?.seconds, 'seconds', 1);
  for (const [i, f] of (spec.faults ?? []).entries()) {
    if (!['freeze', 'black', 'cover', 'blur', 'shift', 'still'].includes(f?.kind)) {
      fail(`Expected faults[${i}].kind to be freeze, black, cover, blur, shift or still but received ${describeValue(f?.kind)}`);
    }
    if (!(expectFinite(f.from, `faults[${i}].from`, 0) < expectFinite(f.to, `faults[${i}].to`, 0))) fail(`Expected faults[${i}].to (${f.to}) to be after from (${f.from})`);
  }
  const graph = faultGraph(spec);
  const key = createHash('sha256').update(JSON.stringify({ v: GENERATOR_VERSION, graph })).digest('hex').slice(0, 20);
  const path = join(CLIP_CACHE_DIR, `fault-${key}.mp4`);
  const { fps, gop } = FAULT_CLIP;
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-filter_complex', graph, '-map', '[out]',
    '-frames:v', String(Math.round(spec.seconds * fps)),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(gop), '-bf', '0',
    '-movflags', '+faststart', '-f', 'mp4', '-y',
  ];
  let job = pending.get(path);
  if (job === undefined) {
    job = encodeWith(args, path, graph).finally(() => pending.delete(path));
    pending.set(path, job);
  }
  return job;
}

async function encodeWith(args: string[], path: string, what: string): Promise<string> {
  if (await exists(path)) return path;
  await mkdir(CLIP_CACHE_DIR, { recursive: true });
  const partial = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await execFileAsync('ffmpeg', [...args, partial], { maxBuffer: 4 * 1024 * 1024 });
    await rename(partial, path);
  } catch (err) {
    await rm(partial, { force: true });
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`ffmpeg could not make the clip ${what}: ${stderr || String(err)}`, { cause: err });
  }
  return path;
}
