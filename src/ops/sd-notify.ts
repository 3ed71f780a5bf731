import { spawn } from 'node:child_process';
import type { Logger } from '../log.js';
import { systemClock, type Clock, type Timer } from '../clock.js';

/*
 * systemd readiness and watchdog notifications (sd_notify(3)) without a
 * native module.
 *
 * Node cannot send the datagram itself: core Node has no AF_UNIX SOCK_DGRAM
 * sockets (removed in v0.5; nodejs/node#29339), and the npm options are native
 * addons (docs/jetson.md). So each notification is one short-lived
 * `systemd-notify` child. That needs `NotifyAccess=all` in the unit (the sender
 * is not the main PID), and systemd ≥ 246's `systemd-notify` waits for the
 * manager to process the message (sd_notify_barrier) before it exits, so the
 * message cannot be dropped because its sender died first — the race the
 * systemd-notify man page warns about.
 *
 * Nothing happens unless NOTIFY_SOCKET is set, i.e. outside systemd (dev runs,
 * containers, tests) the notifier is a no-op and never spawns anything.
 */

export interface Notifier {
  /** True when NOTIFY_SOCKET is set and notifications are being sent. */
  readonly enabled: boolean;
  /** The watchdog ping interval in ms, or undefined when systemd asked for no watchdog (or not for this PID). */
  readonly watchdogIntervalMs: number | undefined;
  /** READY=1 (with an optional STATUS=): start-up is complete. */
  ready(status?: string): void;
  /** One WATCHDOG=1 now. */
  watchdog(): void;
  /** STATUS=text: shown by `systemctl status`. */
  status(text: string): void;
  /** RELOADING=1 (+ MONOTONIC_USEC): a reload began; send ready() when it is done. */
  reloading(status?: string): void;
  /** STOPPING=1: shutdown began. */
  stopping(status?: string): void;
  /**
   * Pings the watchdog every WATCHDOG_USEC/2 — but only while `isProgressing()`
   * returns true. A pipeline that stops making progress stops the pings, and
   * systemd restarts the service after WatchdogSec. A blocked event loop stops
   * them too. No-op when the unit has no watchdog.
   */
  startWatchdog(isProgressing: () => boolean): void;
  /** Stops the watchdog timer. Notifications already handed to systemd-notify still go out. */
  stop(): void;
  /** Resolves when no notification is in flight (tests, orderly shutdown). */
  idle(): Promise<void>;
}

export interface NotifierOptions {
  /** The systemd-notify binary (default: found on PATH). */
  command?: string;
  /** Longest a single systemd-notify may take before it is killed (default 10 s; its own barrier times out at 5 s). */
  timeoutMs?: number;
  /** Time for the watchdog's pings. Default: the system's. */
  clock?: Clock;
}

/** Keys systemd reads from a notification; values may not contain a newline. */
type Assignment = `${string}=${string}`;

interface Pending {
  assignments: Assignment[];
  /**
   * `ping` (WATCHDOG=1) is skipped while another ping waits or is in flight;
   * `status` replaces a status that has not gone out yet; `state` (READY,
   * RELOADING, STOPPING) is always kept.
   */
  kind: 'ping' | 'status' | 'state';
}

/** At most this many notifications wait behind the one in flight; pings and statuses are dropped first. */
const MAX_QUEUED = 8;

/**
 * Watchdog interval from the environment systemd gives the main process:
 * half of WATCHDOG_USEC (sd_watchdog_enabled(3) recommends pinging at half the
 * timeout), and only when WATCHDOG_PID is unset or names this process — a
 * child that inherited the variables must not ping for its parent.
 */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** Status text for systemd: one line, bounded (systemd truncates long messages anyway). */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 400);
}

/**
 * Creates the notifier for this process.
 *
 * @example
 * const notify = createNotifier(log);
 * const line = await startLine(config, log);
 * notify.ready(`${config.cameras.length} camera(s) started`);
 * notify.startWatchdog(() => progress());
 * process.once('SIGTERM', () => { notify.stopping(); notify.stop(); … });
 */
export function createNotifier(log: Logger, env: NodeJS.ProcessEnv = process.env, options: NotifierOptions = {}): Notifier {
  const socket = env.NOTIFY_SOCKET;
  const enabled = typeof socket === 'string' && socket !== '';
  const intervalMs = enabled ? watchdogInterval(env) : undefined;
  const opsLog = log.child({ stage: 'ops' });
  // The child gets NOTIFY_SOCKET and little else; WATCHDOG_* are not for it.
  const childEnv: NodeJS.ProcessEnv = { PATH: env.PATH ?? process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', NOTIFY_SOCKET: socket };
  const queue = new NotifyQueue(options.command ?? 'systemd-notify', childEnv, options.timeoutMs ?? 10_000, opsLog);
  const send = (assignments: Assignment[], kind: Pending['kind']) => {
    if (enabled) queue.send(assignments, kind);
  };
  const withStatus = (first: Assignment, status?: string): Assignment[] =>
    status === undefined ? [first] : [first, `STATUS=${oneLine(status)}`];
  const clock = options.clock ?? systemClock;
  let timer: Timer | null = null;
  const stopTimer = () => {
    if (timer) clock.clearInterval(timer);
    timer = null;
  };

  return {
    enabled,
    watchdogIntervalMs: intervalMs,
    ready: (status) => send(withStatus('READY=1', status), 'state'),
    watchdog: () => send(['WATCHDOG=1'], 'ping'),
    status: (text) => send([`STATUS=${oneLine(text)}`], 'status'),
    reloading: (status) => {
      // systemd ≥ 253 (Type=notify-reload) wants the CLOCK_MONOTONIC time of the reload; older ones ignore it.
      const monotonicUsec = process.hrtime.bigint() / 1000n;
      send([...withStatus('RELOADING=1', status), `MONOTONIC_USEC=${monotonicUsec}`], 'state');
    },
    stopping: (status) => send(withStatus('STOPPING=1', status), 'state'),
    startWatchdog(isProgressing) {
      stopTimer();
      if (!enabled || intervalMs === undefined) {
        opsLog.debug({ enabled }, 'no systemd watchdog requested; not pinging');
        return;
      }
      opsLog.info({ intervalMs }, 'systemd watchdog armed: pinging while the pipeline makes progress');
      const tick = watchdogTick(isProgressing, () => send(['WATCHDOG=1'], 'ping'), opsLog);
      timer = clock.setInterval(tick, intervalMs); // unref'd: the watchdog never keeps the process alive on its own
      tick();
    },
    stop: stopTimer,
    idle: () => queue.idle(),
  };
}

/** One watchdog tick: ping when the pipeline progresses; withhold (and say so once) when it does not. */
function watchdogTick(isProgressing: () => boolean, ping: () => void, log: Logger): () => void {
  let withheld = false;
  return () => {
    let ok: boolean;
    try {
      ok = isProgressing();
    } catch (err) {
      ok = false;
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'progress check threw; treating as no progress');
    }
    if (ok) {
      if (withheld) log.info('pipeline progressing again; systemd watchdog pings resumed');
      withheld = false;
      ping();
    } else if (!withheld) {
      withheld = true;
      log.warn({ code: 'E_WATCHDOG' }, 'pipeline made no progress; withholding systemd watchdog pings (systemd restarts the service after WatchdogSec unless it recovers)');
    }
  };
}

/**
 * Notifications go out one `systemd-notify` child at a time, in order. A
 * failure is logged once per distinct cause (a missing systemd-notify would
 * otherwise log every ping), and its recovery once.
 */
class NotifyQueue {
  private readonly queue: Pending[] = [];
  private current: Pending | null = null;
  private idleWaiters: Array<() => void> = [];
  private lastFailure = '';

  constructor(private readonly command: string, private readonly env: NodeJS.ProcessEnv, private readonly timeoutMs: number, private readonly log: Logger) {}

  send(assignments: Assignment[], kind: Pending['kind']): void {
    if (kind === 'ping' && (this.current?.kind === 'ping' || this.queue.some((p) => p.kind === 'ping'))) return;
    const waitingStatus = kind === 'status' ? this.queue.find((p) => p.kind === 'status') : undefined;
    if (waitingStatus) waitingStatus.assignments = assignments;
    else this.queue.push({ assignments, kind });
    while (this.queue.length > MAX_QUEUED) {
      const expendable = this.queue.findIndex((p) => p.kind !== 'state');
      this.queue.splice(expendable < 0 ? 0 : expendable, 1);
    }
    this.pump();
  }

  idle(): Promise<void> {
    if (!this.current && this.queue.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private settleIdle(): void {
    if (this.current || this.queue.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private pump(): void {
    if (this.current) return;
    const next = this.queue.shift();
    if (!next) {
      this.settleIdle();
      return;
    }
    this.current = next;
    let done = false;
    let stderr = '';
    const finish = (failure: string | undefined) => {
      if (done) return;
      done = true;
      this.current = null;
      this.outcome(next, failure);
      this.pump();
    };
    // Assignments as positional arguments work in every systemd-notify (READY=1 ≡ --ready).
    const child = spawn(this.command, next.assignments, { env: this.env, stdio: ['ignore', 'ignore', 'pipe'], timeout: this.timeoutMs, killSignal: 'SIGKILL' });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 1000) stderr += chunk;
    });
    child.once('error', (err) => finish(`${this.command}: ${err.message}`));
    child.once('close', (code, signal) => {
      if (code === 0) finish(undefined);
      else finish(`${this.command} ${signal ? `killed by ${signal}` : `exited with ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
    });
  }

  private outcome(sent: Pending, failure: string | undefined): void {
    if (failure) {
      if (failure === this.lastFailure) return;
      this.log.warn({ code: 'E_SD_NOTIFY', err: failure, notification: sent.assignments.join(' ') },
        'could not notify systemd; the unit may time out or be restarted by its watchdog');
      this.lastFailure = failure;
    } else if (this.lastFailure !== '') {
      this.log.info('systemd notifications delivered again');
      this.lastFailure = '';
    }
  }
}
