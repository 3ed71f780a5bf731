/**
 * Runs the real ffmpeg with linesight's letterbox filter graph on any input and
 * returns what a letterboxing camera would read: the model inputs (stdout) and
 * the full-size views (fd 3), with ffmpeg's log.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { letterboxFilterGraph, letterboxOutputOptions, type LetterboxPlan } from '../../src/ingest/ffmpeg-args.js';

export function runLetterboxGraph(inputArgs: string[], fps: number, plan: LetterboxPlan): Promise<{ inputs: Buffer; views: Buffer; stderr: string }> {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'verbose', ...inputArgs, '-filter_complex', letterboxFilterGraph(fps, plan), ...letterboxOutputOptions()];
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const inputs: Buffer[] = [];
    const views: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => inputs.push(c));
    (child.stdio[3] as Readable).on('data', (c: Buffer) => views.push(c));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0
      ? resolve({ inputs: Buffer.concat(inputs), views: Buffer.concat(views), stderr })
      : reject(new Error(`ffmpeg exited ${code}: ${stderr.slice(-500)}`))));
  });
}
