/**
 * Parent side of the chaos children: spawn a TypeScript child with vite-node,
 * read its stdout line by line, send it commands, kill it, clean up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { waitFor } from '../helpers/wait.js';

const root = new URL('../..', import.meta.url).pathname;
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface Child {
  readonly pid: number;
  readonly lines: string[];
  /** Resolves with the exit code once every line the child wrote has been read ('close', not 'exit'). */
  readonly exited: Promise<number | null>;
  /** The first line starting with `tag `, waited for. */
  line(tag: string, timeoutMs?: number): Promise<string>;
  /** Calls `fn` on every line read from now on. */
  onLine(fn: (line: string) => void): void;
  send(command: string): void;
  kill(): Promise<void>;
  stderr(): string;
}

/** Starts `test/chaos/<script>` (or any path relative to the repository root) with the given env. */
export function spawnChild(script: string, env: Record<string, string>, options: { exposeGc?: boolean } = {}): Child {
  const nodeOptions = [process.env.NODE_OPTIONS ?? '', options.exposeGc ? '--expose-gc' : ''].join(' ').trim();
  const child = spawn(join(root, 'node_modules/.bin/vite-node'), [script], {
    cwd: root,
    env: { ...process.env, ...env, NODE_OPTIONS: nodeOptions },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // A child killed mid-write must not take the parent down with EPIPE.
  child.stdin?.on('error', () => undefined);
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const fn of listeners) fn(line);
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    running.delete(child);
    resolve(code);
  }));
  let closed = false;
  void exited.then(() => (closed = true));
  return {
    pid: child.pid as number,
    lines,
    exited,
    line: (tag, timeoutMs = 30_000) => waitFor(`the child's ${tag} line`, () => {
      const found = lines.find((l) => l.startsWith(`${tag} `));
      if (!found && closed) throw new Error(`the child exited before ${tag}: ${stderr.slice(-2000)}`);
      return found;
    }, timeoutMs, 20),
    onLine: (fn) => listeners.push(fn),
    send: (command) => void child.stdin?.write(`${command}\n`),
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stderr: () => stderr,
  };
}

/** The JSON payload after a line's tag. */
export function payloadOf<T>(line: string): T {
  return JSON.parse(line.slice(line.indexOf(' ') + 1)) as T;
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino JSON log file, parsed. */
export function readLog(file: string): LogLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as LogLine);
}
