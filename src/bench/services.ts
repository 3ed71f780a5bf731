/**
 * The real parts the bench talks to: a mosquitto broker (when installed) for
 * PUBACK latency, and the GStreamer RTSP server of the test fixtures
 * (test/fixtures/rtsp_server.py, run with Debian's /usr/bin/python3, which has
 * the GStreamer bindings) for cameras paced in real time.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinesightError } from '../errors.js';

export const RTSP_SERVER_SCRIPT = fileURLToPath(new URL('../../test/fixtures/rtsp_server.py', import.meta.url));
export const SYSTEM_PYTHON = '/usr/bin/python3';

export interface Service {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * mosquitto on a free loopback port, anonymous, no persistence, config in a temp dir.
 * `tcpNoDelay` (default true) sets `set_tcp_nodelay`: with mosquitto's default
 * (Nagle on), the second of two PUBACKs in a row waits for the client's delayed
 * TCP ACK, about 40 ms on Linux (docs/mqtt.md, *Broker settings*).
 */
export async function startMosquitto(tcpNoDelay = true): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-bench-mqtt-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', `set_tcp_nodelay ${tcpNoDelay}`,
    // Running as root, mosquitto would switch to its own user and lose the temp dir.
    'user root', 'log_dest stderr', 'log_type error', 'log_type warning'].join('\n') + '\n');
  let log = '';
  // Tied to this process like ffmpeg (bin/ffmpeg-tethered): a crashed bench leaves no broker behind.
  const [cmd, args] = onPath('setpriv') ? ['setpriv', ['--pdeathsig', 'TERM', '--', 'mosquitto', '-c', conf]] : ['mosquitto', ['-c', conf]];
  const child = spawn(cmd as string, args as string[], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
      throw new LinesightError('E_MQTT', `Expected mosquitto to listen on 127.0.0.1:${port} within 10 s but it did not: ${log.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Serves `clip` on rtsp://127.0.0.1:PORT/cam, looped, paced in real time; one server takes many clients.
 * With `spreadPhases` the clients that connect together still get their frames at different instants
 * of the frame interval, as independent cameras do; without it, all at once (the worst case).
 */
export async function startRtspServer(clip: string, spreadPhases = true): Promise<Service> {
  const args = [RTSP_SERVER_SCRIPT, '--port', '0', '--clip', clip, '--loop', ...(spreadPhases ? ['--spread-phases'] : [])];
  const child = spawn(SYSTEM_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('no READY line within 15 s')), 15_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /^READY (rtsp:\/\/\S+)$/m.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}`));
    });
  }).catch(async (err: Error) => {
    await stopChild(child);
    throw new LinesightError('E_CAMERA_UNREACHABLE', `Expected ${RTSP_SERVER_SCRIPT} to serve ${clip} but it failed (${err.message}): ${log.trim()}`);
  });
  return { url, pid: child.pid, stop: () => stopChild(child) };
}
