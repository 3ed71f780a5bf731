/**
 * Child-process bookkeeping for tests, read from /proc (Linux only): which
 * ffmpeg or RTSP server processes this test process left behind.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Kernel name, at most 15 characters (`ffmpeg`, `python3`). */
  comm: string;
  /** One-letter state from /proc/PID/stat; `Z` is a zombie not yet reaped. */
  state: string;
  /** argv; empty for zombies and kernel threads. */
  args: string[];
}

export const STRAY_NAMES = ['ffmpeg', 'rtsp_server.py'];

/**
 * Parses /proc/PID/stat. `comm` sits in parentheses and may itself contain spaces and
 * parentheses, so the fields after it are found from the *last* `)` (proc(5)).
 */
function readStat(pid: number): { comm: string; state: string; ppid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const [state, ppid] = text.slice(close + 2).split(' ');
  return { comm: text.slice(open + 1, close), state, ppid: Number(ppid) };
}

function readArgs(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
  } catch (err) {
    if (isGone(err)) return [];
    throw err;
  }
}

/** The process exited between listing /proc and reading it. */
function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH';
}

function allProcesses(): ProcessInfo[] {
  const result: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = readStat(pid);
    if (stat === undefined) continue;
    result.push({ pid, ...stat, args: readArgs(pid) });
  }
  return result;
}

/** Every process below `pid` (children, grandchildren…), parents before children. */
export function descendants(pid: number = process.pid): ProcessInfo[] {
  const byParent = new Map<number, ProcessInfo[]>();
  for (const info of allProcesses()) {
    const siblings = byParent.get(info.ppid) ?? [];
    siblings.push(info);
    byParent.set(info.ppid, siblings);
  }
  const result: ProcessInfo[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const children = byParent.get(queue.shift() as number) ?? [];
    result.push(...children);
    queue.push(...children.map((child) => child.pid));
  }
  return result;
}

/** True when the process is `name` by kernel name or by any argv entry's file name (`python3 …/rtsp_server.py`). */
function matches(info: ProcessInfo, names: readonly string[]): boolean {
  return names.some((name) => info.comm === name || info.args.some((arg) => basename(arg) === name));
}

function strays(names: readonly string[]): ProcessInfo[] {
  return descendants().filter((info) => matches(info, names));
}

function describeProcess(info: ProcessInfo): string {
  return `  pid ${info.pid} (${info.comm}, state ${info.state}): ${info.args.join(' ') || '(no argv)'}`;
}

/**
 * Waits up to `timeoutMs` for descendants named `names` to disappear, then throws listing
 * the ones left. Call after stopping what a test started.
 */
export async function expectNoStrays(names: readonly string[] = STRAY_NAMES, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let left = strays(names);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = strays(names);
  }
  if (left.length > 0) {
    throw new Error(`expected no ${names.join('/')} processes left after ${timeoutMs} ms but found ${left.length}:\n${left.map(describeProcess).join('\n')}`);
  }
}

/**
 * For afterAll: SIGTERM to this process's descendants named `names`, SIGKILL to those
 * still there after `graceMs`. Returns how many it found. Only ever touches descendants.
 */
export async function killStrays(names: readonly string[] = STRAY_NAMES, graceMs = 2000): Promise<number> {
  const found = strays(names).filter((info) => info.state !== 'Z');
  if (found.length === 0) return 0;
  const signal = (info: ProcessInfo, sig: NodeJS.Signals): void => {
    try {
      process.kill(info.pid, sig);
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  };
  for (const info of found) signal(info, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  const pids = new Set(found.map((info) => info.pid));
  const alive = (): ProcessInfo[] => strays(names).filter((info) => pids.has(info.pid) && info.state !== 'Z');
  while (alive().length > 0 && Date.now() < deadline) await sleep(50);
  for (const info of alive()) signal(info, 'SIGKILL');
  return found.length;
}
