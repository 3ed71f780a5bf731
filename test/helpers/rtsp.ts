/**
 * Starts src/bench/rtsp_server.py (GStreamer's RTSP server, real-time paced like a
 * camera; the bench's RTSP cameras use it too) as a child process and hands back its URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LinesightError, describeValue } from '../../src/errors.js';

/** Debian's Python, the one with the GStreamer bindings (not the `python3` on PATH). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../src/bench/rtsp_server.py', import.meta.url));
const READY_LINE = /^READY (rtsp:\/\/127\.0\.0\.1:(\d+)\/\S*)$/m;
const STOP_GRACE_MS = 3000;
const LOG_LIMIT = 64 * 1024;

export interface RtspServerOptions {
  /** MP4 with H.264 video, e.g. from `makeClip`. */
  clip: string;
  /** Default 0: the kernel picks a free port; `restart()` then reuses it. */
  port?: number;
  /** Mount point. Default `/cam`. */
  path?: string;
  /** Serve the clip forever, timestamps increasing across loops. Default false: the stream ends with the clip. */
  loop?: boolean;
  /** How long to wait for the READY line. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RtspServer {
  /** `rtsp://127.0.0.1:PORT/PATH`; the same after `restart()`. */
  readonly url: string;
  readonly port: number;
  /** The current server process, `undefined` once it has exited. */
  readonly pid: number | undefined;
  /** What the server wrote on stderr so far (last 64 KiB, across restarts). */
  log(): string;
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. Safe to call twice. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL: a camera losing power) without waiting; see `exited()`. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the current process exits (at once if it already has). */
  exited(): Promise<ExitStatus>;
  /** Stops the server and starts it again on the same port, optionally with another clip. */
  restart(options?: { clip?: string; loop?: boolean }): Promise<void>;
}

interface Running {
  child: ChildProcess;
  exit: Promise<ExitStatus>;
  url: string;
  port: number;
}

const live = new Set<ChildProcess>();
// A last resort when a test forgets stop(): the script also dies with its parent (PR_SET_PDEATHSIG).
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function validate(options: RtspServerOptions): void {
  if (typeof options?.clip !== 'string' || options.clip === '') {
    throw new LinesightError('E_ARGUMENT', `Expected a clip path for clip but received ${describeValue(options?.clip)}`);
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new LinesightError('E_ARGUMENT', `Expected an integer 0..65535 for port but received ${describeValue(port)}`);
  }
  const path = options.path ?? '/cam';
  if (typeof path !== 'string' || !/^\/\S*$/.test(path)) {
    throw new LinesightError('E_ARGUMENT', `Expected a mount point like "/cam" for path but received ${describeValue(path)}`);
  }
}

function launch(
  args: { clip: string; port: number; path: string; loop: boolean },
  readyTimeoutMs: number,
  appendLog: (text: string) => void,
): Promise<Running> {
  const argv = [SCRIPT, '--port', String(args.port), '--clip', args.clip, '--path', args.path];
  if (args.loop) argv.push('--loop');
  const child = spawn(PYTHON, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  live.add(child);

  // This launch's stderr, for the start-up error message.
  let stderr = '';
  const onStderr = (text: string): void => {
    stderr = (stderr + text).slice(-LOG_LIMIT);
    appendLog(text);
  };

  const exit = new Promise<ExitStatus>((resolve) => {
    // 'close', not 'exit': it comes after stderr is fully read, so error messages are complete.
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    // A spawn failure (no /usr/bin/python3) may emit 'error' without 'close'.
    child.once('error', (err) => {
      onStderr(`spawn ${PYTHON} failed: ${err.message}\n`);
      live.delete(child);
      resolve({ code: null, signal: null });
    });
  });

  child.stderr?.setEncoding('utf8');
  // Keep draining both pipes for the server's whole life: a full pipe would block it.
  child.stderr?.on('data', onStderr);

  return new Promise<Running>((resolve, reject) => {
    let settled = false;
    let stdout = '';
    const onStdout = (chunk: string): void => {
      stdout += chunk;
      const match = READY_LINE.exec(stdout);
      if (match === null || settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ child, exit, url: match[1], port: Number(match[2]) });
    };

    const failWith = async (reason: string): Promise<void> => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (isRunning(child)) child.kill('SIGKILL');
      await exit;
      reject(new Error(`rtsp_server.py ${reason} (clip ${args.clip}, port ${args.port}); its stderr:\n${stderr.trim() || '(empty)'}`));
    };

    const timer = setTimeout(() => void failWith(`printed no READY line within ${readyTimeoutMs} ms`), readyTimeoutMs);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', onStdout);
    void exit.then(({ code, signal }) => failWith(`exited before READY with ${signal ?? `code ${code}`}`));
  });
}

async function terminate(running: Running): Promise<void> {
  const { child, exit } = running;
  if (!isRunning(child)) {
    await exit;
    return;
  }
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const graceful = await Promise.race([
    exit.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), STOP_GRACE_MS);
    }),
  ]);
  clearTimeout(timer);
  if (!graceful) child.kill('SIGKILL');
  await exit;
}

/**
 * Starts an RTSP server for `clip` and resolves once it listens.
 *
 * @example
 * const camera = await startRtspServer({ clip: await makeClip({ width: 320, height: 240, seconds: 2 }), loop: true });
 * // ffmpeg -rtsp_transport tcp -i camera.url ...
 * await camera.restart();  // same URL
 * await camera.stop();
 */
export async function startRtspServer(options: RtspServerOptions): Promise<RtspServer> {
  validate(options);
  const settings = {
    clip: options.clip,
    port: options.port ?? 0,
    path: options.path ?? '/cam',
    loop: options.loop ?? false,
  };
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  let log = '';
  const appendLog = (text: string): void => {
    log = (log + text).slice(-LOG_LIMIT);
  };
  const readLog = (): string => log;

  let running = await launch(settings, readyTimeoutMs, appendLog);
  // A restart must come back on the port the kernel picked the first time.
  settings.port = running.port;
  const { url, port } = running;

  return {
    url,
    port,
    get pid() {
      return isRunning(running.child) ? running.child.pid : undefined;
    },
    log: readLog,
    stop: () => terminate(running),
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (isRunning(running.child)) running.child.kill(signal);
    },
    exited: () => running.exit,
    async restart(changes = {}) {
      await terminate(running);
      if (changes.clip !== undefined) settings.clip = changes.clip;
      if (changes.loop !== undefined) settings.loop = changes.loop;
      running = await launch(settings, readyTimeoutMs, appendLog);
    },
  };
}
