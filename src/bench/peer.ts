/**
 * Runs the OpenCV-DNN peer (src/bench/peer_opencv.py) on the same clip and model,
 * with Debian's /usr/bin/python3 (python3-opencv, python3-onnx).
 */
import { execFile } from 'node:child_process';
import { errorMessage } from '../errors.js';
import { benchScript, SYSTEM_PYTHON } from './services.js';
import { round } from './stats.js';
import type { PeerResult, PipelineResult } from './report.js';

export const PEER_SCRIPT = benchScript('peer_opencv.py');

interface PeerOutput {
  error?: string;
  frames?: number;
  seconds?: number;
  fps?: number;
  cpu_pct?: number;
  opencv?: string;
  rewrites?: string[];
}

export function runPeer(clip: string, model: string, seconds: number): Promise<PeerResult> {
  return new Promise((resolve) => {
    const args = [PEER_SCRIPT, '--clip', clip, '--model', model, '--seconds', String(seconds)];
    execFile(SYSTEM_PYTHON, args, { timeout: (seconds + 120) * 1000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      let out: PeerOutput;
      try {
        out = JSON.parse(line) as PeerOutput;
      } catch {
        const why = err ? errorMessage(err) : 'no JSON on stdout';
        resolve({ ok: false, error: `${why}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}` });
        return;
      }
      if (out.error !== undefined || out.fps === undefined) {
        resolve({ ok: false, error: out.error ?? 'the peer printed no fps', modelRewrites: out.rewrites });
        return;
      }
      resolve({
        ok: true,
        frames: out.frames,
        seconds: out.seconds,
        fps: out.fps,
        cpuPct: out.cpu_pct,
        opencv: out.opencv,
        modelRewrites: out.rewrites,
      });
    });
  });
}

/**
 * The peer on the bench's clip and model for `seconds`, with linesight's ratio
 * to it: the 1-camera file run (`ratio`) and the best file run (`ratioBest`).
 */
export async function peerAgainst(clip: string, model: string, seconds: number, pipeline: readonly PipelineResult[]): Promise<PeerResult> {
  const peer = await runPeer(clip, model, seconds);
  const files = pipeline.filter((p) => p.source === 'file');
  const one = files.find((p) => p.cameras === 1) ?? files[0];
  if (peer.ok && peer.fps && one) {
    peer.ratio = round(one.fps / peer.fps, 3);
    peer.ratioBest = round(Math.max(...files.map((p) => p.fps)) / peer.fps, 3);
  }
  return peer;
}
