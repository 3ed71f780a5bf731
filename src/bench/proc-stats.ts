/**
 * CPU time and memory of this process and its children, read from /proc
 * (Linux only; proc(5)). Times are in core-milliseconds.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on every Linux ABI node supports

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process exited between listing and reading: it has nothing left to report
  }
}

interface Stat {
  ppid: number;
  cpuMs: number;
}

/** `comm` may hold spaces and parentheses, so fields are counted from the last `)`. */
function readStat(pid: number): Stat | undefined {
  const text = read(`/proc/${pid}/stat`);
  if (!text) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After comm: state(3) ppid(4) … utime(14) stime(15), so index = field − 3.
  return { ppid: Number(fields[1]), cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS };
}

function statusKb(pid: number | 'self', key: 'VmRSS' | 'VmHWM'): number {
  const text = read(`/proc/${pid}/status`);
  const match = text && new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

export const rssMb = (pid: number | 'self' = 'self'): number => statusKb(pid, 'VmRSS') / 1024;
export const peakRssMb = (pid: number | 'self' = 'self'): number => statusKb(pid, 'VmHWM') / 1024;

/** Resets VmHWM to the current RSS (`echo 5 > clear_refs`, Linux ≥ 4.0); false when not allowed. */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU time of one process (all its threads), core-ms; 0 once it is gone. */
export function processCpuMs(pid: number): number {
  return readStat(pid)?.cpuMs ?? 0;
}

/** Every live process below `root`, excluding the subtrees of `exclude` (the broker, the RTSP server). */
export function descendants(root: number = process.pid, exclude: ReadonlySet<number> = new Set()): number[] {
  const byParent = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    const list = byParent.get(stat.ppid) ?? [];
    list.push(Number(entry));
    byParent.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of byParent.get(queue.shift() as number) ?? []) {
      if (exclude.has(child)) continue;
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** Busy and total jiffies of the whole machine (/proc/stat first line), core-ms. */
export function machineCpuMs(): { busy: number; total: number } {
  const line = (read('/proc/stat') ?? '').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
  return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
}

/**
 * Follows this process and its children over a measurement window: samples
 * every `everyMs` so that children which exit mid-window still count, and keeps
 * each child's peak memory.
 */
export class ProcessSampler {
  private readonly startSelf = process.cpuUsage();
  private readonly startMachine = machineCpuMs();
  private readonly startedAt = performance.now();
  private readonly childStart = new Map<number, number>();
  private readonly childLast = new Map<number, number>();
  private readonly childPeakMb = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;
  private selfPeakSampledMb = rssMb();
  readonly peakResetWorked = resetPeakRss();

  constructor(private readonly exclude: () => ReadonlySet<number>, everyMs = 500) {
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), everyMs);
    this.timer.unref();
  }

  private sample(first: boolean): void {
    this.selfPeakSampledMb = Math.max(this.selfPeakSampledMb, rssMb());
    for (const pid of descendants(process.pid, this.exclude())) {
      const cpu = processCpuMs(pid);
      if (!this.childStart.has(pid)) this.childStart.set(pid, first ? cpu : 0);
      this.childLast.set(pid, cpu);
      this.childPeakMb.set(pid, Math.max(this.childPeakMb.get(pid) ?? 0, peakRssMb(pid)));
    }
  }

  /** Ends the window. */
  finish(): { wallMs: number; selfCpuMs: number; childrenCpuMs: number; machineBusyMs: number; selfPeakMb: number; childrenPeakMb: number } {
    this.sample(false);
    clearInterval(this.timer);
    const self = process.cpuUsage(this.startSelf);
    const machine = machineCpuMs();
    let children = 0;
    for (const [pid, last] of this.childLast) children += last - (this.childStart.get(pid) ?? 0);
    return {
      wallMs: performance.now() - this.startedAt,
      selfCpuMs: (self.user + self.system) / 1000,
      childrenCpuMs: children,
      machineBusyMs: machine.busy - this.startMachine.busy,
      selfPeakMb: this.peakResetWorked ? Math.max(peakRssMb(), this.selfPeakSampledMb) : this.selfPeakSampledMb,
      childrenPeakMb: [...this.childPeakMb.values()].reduce((a, b) => a + b, 0),
    };
  }
}
