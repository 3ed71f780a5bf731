import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/bench/services.js';
import { waitFor } from './wait.js';

export interface MosquittoOptions {
  port?: number;
  /** A mosquitto password file; anonymous clients are refused when set. */
  passwordFile?: string;
  /** A mosquitto ACL file (reloaded by `reload()`). */
  aclFile?: string;
  /** PEM paths: the listener speaks TLS only. */
  tls?: { cafile: string; certfile: string; keyfile: string };
  /** Keep sessions and queued messages across stop/start (default true). */
  persistence?: boolean;
  /** More mosquitto.conf lines (e.g. `queue_qos0_messages true`). */
  extraConfig?: string[];
}

export interface Mosquitto {
  url: string;
  port: number;
  /** SIGTERM (mosquitto saves its persistence file) and wait for the exit. */
  stop(): Promise<void>;
  /** Start again on the same port with the same config and persistence. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /**
   * SIGHUP: mosquitto re-reads its password and ACL files. Resolves once it has
   * logged "Reloading config."; it reads the files in the same pass of its
   * single-threaded loop, before it handles another packet.
   */
  reload(): Promise<void>;
  /** Stop and delete the temp dir. */
  dispose(): Promise<void>;
  /** Everything mosquitto wrote to stderr (its log). */
  log(): string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export { freePort };

/** Writes a mosquitto password file with these users (hashed by mosquitto_passwd). */
export function writePasswordFile(dir: string, users: Record<string, string>): string {
  const file = join(dir, 'passwd');
  writeFileSync(file, '');
  for (const [user, password] of Object.entries(users)) execFileSync('mosquitto_passwd', ['-b', file, user, password]);
  return file;
}

/** Starts a real mosquitto on a free (or given) loopback port with a generated config in a temp dir. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'linesight-mosquitto-'));
  const port = options.port ?? (await freePort());
  const lines = [
    `listener ${port} 127.0.0.1`,
    `allow_anonymous ${options.passwordFile ? 'false' : 'true'}`,
    ...(options.passwordFile ? [`password_file ${options.passwordFile}`] : []),
    ...(options.aclFile ? [`acl_file ${options.aclFile}`] : []),
    ...(options.tls ? [`cafile ${options.tls.cafile}`, `certfile ${options.tls.certfile}`, `keyfile ${options.tls.keyfile}`] : []),
    `persistence ${options.persistence === false ? 'false' : 'true'}`,
    `persistence_location ${dir}/`,
    // Not 0 ("unlimited"): mosquitto 2.0.11 then drops the connection after an ACL-denied QoS 1 PUBLISH.
    'max_queued_messages 1000000',
    'max_inflight_messages 20',
    // Running as root, mosquitto would otherwise switch to the "mosquitto" user and lose access to the temp dir.
    'user root',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    // For "Reloading config." (reload() waits for it) and the connection log when a test fails.
    'log_type information',
    ...(options.extraConfig ?? []),
  ];
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n') + '\n');
  let child: ChildProcess | undefined;
  let stderr = '';

  const start = async () => {
    const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    running.add(proc);
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.once('exit', () => running.delete(proc));
    await waitForPort(port, proc, () => stderr);
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
    reload: async () => {
      const proc = child;
      if (!proc) throw new Error('mosquitto is not running: nothing to reload');
      const reloads = () => stderr.split('Reloading config.').length - 1;
      const before = reloads();
      proc.kill('SIGHUP');
      await waitFor('mosquitto to reload its config (SIGHUP)', () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`mosquitto exited: ${stderr}`);
        return reloads() > before;
      }, 10_000, 20);
    },
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => stderr,
  };
}

async function waitForPort(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited with ${proc.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto did not listen on port ${port} within 10 s: ${log()}`);
}
