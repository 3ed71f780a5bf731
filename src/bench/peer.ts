/**
 * Runs the OpenCV-DNN peer (bench/peer_opencv.py) on the same clip and model,
 * with Debian's /usr/bin/python3 (python3-opencv, python3-onnx).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';
import { SYSTEM_PYTHON } from './services.js';
import type { PeerResult } from './report.js';

export const PEER_SCRIPT = fileURLToPath(new URL('../../bench/peer_opencv.py', import.meta.url));

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
