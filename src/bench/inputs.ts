/** What the bench runs on: the machine, the clip, the tool versions. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { promisify } from 'node:util';
import { LinesightError, errorMessage } from '../errors.js';
import type { ClipInfo, MachineInfo } from './report.js';

const run = promisify(execFile);

async function ffmpegVersion(): Promise<string> {
  try {
    const { stdout } = await run('ffmpeg', ['-hide_banner', '-version']);
    return stdout.split('\n')[0].replace(/^ffmpeg version /, '').split(' ')[0];
  } catch (err) {
    return `unknown (${errorMessage(err)})`;
  }
}

function onnxruntimeVersion(): string {
  try {
    const url = new URL('../../node_modules/onnxruntime-node/package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  return {
    cores: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memTotalMb: Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0) / 1024),
    node: process.version,
    ffmpeg: await ffmpegVersion(),
    onnxruntime: onnxruntimeVersion(),
    loadAverageAtStart: Math.round(loadavg()[0] * 100) / 100,
  };
}

/** Size, rate and length of the clip's first video stream (ffprobe). */
export async function clipInfo(path: string): Promise<ClipInfo> {
  let stdout: string;
  try {
    ({ stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_packets',
      '-show_entries', 'stream=codec_name,width,height,avg_frame_rate,r_frame_rate,nb_read_packets', '-of', 'json', path]));
  } catch (err) {
    throw new LinesightError('E_ARGUMENT', `Expected a readable video file for the bench clip but ffprobe failed on ${path}: ${errorMessage(err)}`);
  }
  const stream = (JSON.parse(stdout) as { streams?: Array<Record<string, string | number>> }).streams?.[0];
  if (!stream) throw new LinesightError('E_ARGUMENT', `Expected a video stream in the bench clip ${path} but found none`);
  const rate = String(stream.avg_frame_rate !== '0/0' ? stream.avg_frame_rate : stream.r_frame_rate);
  const [num, den] = rate.split('/').map(Number);
  return {
    path,
    width: Number(stream.width),
    height: Number(stream.height),
    fps: den ? num / den : num,
    frames: Number(stream.nb_read_packets),
    codec: String(stream.codec_name),
  };
}
