/**
 * The real parts the bench talks to: a mosquitto broker (when installed) for
 * PUBACK latency, and a GStreamer RTSP server (src/bench/rtsp_server.py, run
 * with Debian's /usr/bin/python3, which has the GStreamer bindings) for cameras
 * paced in real time.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinesightError, errorMessage } from '../errors.js';

/**
 * A Python script of the bench. Resolved through the sources, so the same path
 * works from src/bench (tests) and dist/bench (the built CLI): tsc does not
 * copy .py files, and src/bench/*.py ship with the package.
 */
export function benchScript(name: string): string {
  return fileURLToPath(new URL(`../../src/bench/${name}`, import.meta.url));
}

export const RTSP_SERVER_SCRIPT = benchScript('rtsp_server.py');
export const SYSTEM_PYTHON = '/usr/bin/python3';
/** What the RTSP server needs from Debian, for the message when it is missing. */
export const RTSP_PACKAGES = 'python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad';

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
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`Expected a TCP address from a loopback listener but received ${String(address)}`))));
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
 * mosquitto on a free loopback port, anonymous, no persistence, config in a temp dir,
 * with `set_tcp_nodelay true`: with mosquitto's default (Nagle on), the second of two
 * PUBACKs in a row waits for the client's delayed TCP ACK, about 40 ms on Linux
 * (docs/mqtt.md, *Broker settings*).
 */
export async function startMosquitto(): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-bench-mqtt-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'set_tcp_nodelay true',
    // Running as root, mosquitto would switch to its own user and lose the temp dir.
    'user root', 'log_dest stderr', 'log_type error', 'log_type warning'].join('\n') + '\n');
  let log = '';
  // Tied to this process like ffmpeg (bin/ffmpeg-tethered): a crashed bench leaves no broker behind.
  const mosquitto = ['mosquitto', '-c', conf];
  const [cmd, ...args] = onPath('setpriv') ? ['setpriv', '--pdeathsig', 'TERM', '--', ...mosquitto] : mosquitto;
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
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
 * Why the RTSP server cannot run here, with what to install (the script's own
 * `--check` names the missing GStreamer parts); null when it can.
 */
export function rtspServerProblem(python = SYSTEM_PYTHON): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(python, [RTSP_SERVER_SCRIPT, '--check'], { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) {
        resolve(null);
        return;
      }
      // The script's last line: "rtsp_server[PID]: cannot serve RTSP: …; install them with: apt-get install …".
      const said = /^rtsp_server\[\d+\]: (.+)$/m.exec(stderr.trim().split('\n').at(-1) ?? '')?.[1];
      resolve(said ?? `${python} cannot run ${RTSP_SERVER_SCRIPT} (${errorMessage(err)}); install ${RTSP_PACKAGES} (Debian)`);
    });
  });
}

/**
 * Serves `clip` on rtsp://127.0.0.1:PORT/cam, looped, paced in real time; one server takes many clients.
 * The clients that connect together get their frames at different instants of the frame
 * interval (`--spread-phases`), as independent cameras do.
 */
export async function startRtspServer(clip: string): Promise<Service> {
  const args = [RTSP_SERVER_SCRIPT, '--port', '0', '--clip', clip, '--loop', '--spread-phases'];
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
