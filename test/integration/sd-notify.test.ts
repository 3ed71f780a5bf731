import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNotifier, watchdogInterval, type Notifier } from '../../src/ops/sd-notify.js';
import { createProgressCheck } from '../../src/ops/progress.js';
import { captureLogger } from '../helpers/capture-log.js';
import { startNotifyListener, type NotifyListener } from '../helpers/notify-listener.js';
import { waitFor } from '../helpers/wait.js';

// `systemd-notify` comes with Debian's `systemd` package (scripts/install-deps.sh);
// the listener needs /usr/bin/python3. Both are required, not optional: a missing
// one fails the suite here rather than skipping it.
const SYSTEMD_NOTIFY = '/usr/bin/systemd-notify';

/** The ping interval these tests ask for: WATCHDOG_USEC=400000 → WATCHDOG=1 every 200 ms. */
const INTERVAL_MS = 200;

/**
 * Resolves once no WATCHDOG=1 has arrived for `quietMs`, counted from the last
 * one observed (or from `since`, if that is later). While pings keep coming the
 * quiet window never completes, and the wait fails at its deadline.
 */
async function pingsStop(listener: NotifyListener, what: string, since: number, quietMs = 5 * INTERVAL_MS): Promise<void> {
  await waitFor(`${what}: no WATCHDOG=1 for ${quietMs} ms`, () => {
    const last = Math.max(since, listener.having('WATCHDOG=1').at(-1)?.at ?? 0);
    return Date.now() - last >= quietMs;
  }, 10_000 + quietMs, 25);
}

describe('watchdogInterval', () => {
  it('is half of WATCHDOG_USEC, in ms', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 42)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(15_000);
  });

  it('is off when systemd asked for no watchdog, or asked another process', () => {
    expect(watchdogInterval({}, 42)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: '0' }, 42)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: 'soon' }, 42)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42)).toBeUndefined();
  });
});

describe('createNotifier without NOTIFY_SOCKET', () => {
  it('is a no-op and never spawns anything', async () => {
    const { log, lines } = captureLogger();
    // A command that cannot run: had anything been spawned, a warning would be logged.
    const n = createNotifier(log, { WATCHDOG_USEC: '200000' }, { command: '/nonexistent/systemd-notify' });
    expect(n.enabled).toBe(false);
    expect(n.watchdogIntervalMs).toBeUndefined();
    n.ready('up');
    n.status('x');
    n.watchdog();
    n.startWatchdog(() => true);
    n.stopping();
    n.stop();
    await n.idle();
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});

describe('createNotifier against a real notification socket', () => {
  let listener: NotifyListener;
  let notifier: Notifier | undefined;

  beforeEach(async () => {
    expect(existsSync(SYSTEMD_NOTIFY), `${SYSTEMD_NOTIFY} is missing: apt-get install systemd (scripts/install-deps.sh)`).toBe(true);
    listener = await startNotifyListener();
  });

  afterEach(async () => {
    notifier?.stop();
    await notifier?.idle();
    notifier = undefined;
    await listener.close();
  });

  const envFor = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, NOTIFY_SOCKET: listener.path, ...extra });

  it('sends READY=1 with a status line, STATUS=, RELOADING=1 and STOPPING=1', async () => {
    const { log } = captureLogger();
    notifier = createNotifier(log, envFor());
    expect(notifier.enabled).toBe(true);
    notifier.ready('3 cameras started\nsecond line');
    await waitFor('READY=1', () => listener.having('READY=1').length > 0, 10_000);
    expect(listener.having('READY=1')[0].data).toBe('READY=1\nSTATUS=3 cameras started second line');

    notifier.status('2 of 3 cameras online');
    notifier.reloading('reloading configuration');
    notifier.stopping('stopping');
    await notifier.idle();
    await waitFor('STOPPING=1', () => listener.having('STOPPING=1').length > 0, 10_000);
    expect(listener.having('STATUS=2 of 3 cameras online')).toHaveLength(1);
    const reload = listener.having('RELOADING=1')[0].data.split('\n');
    expect(reload).toContain('STATUS=reloading configuration');
    expect(reload.find((l) => l.startsWith('MONOTONIC_USEC='))).toMatch(/^MONOTONIC_USEC=\d+$/);
    // Order is kept: the notifications are serialised.
    const order = listener.messages.map((m) => m.data.split('\n')[0]);
    expect(order).toEqual(['READY=1', 'STATUS=2 of 3 cameras online', 'RELOADING=1', 'STOPPING=1']);
  });

  it('pings WATCHDOG=1 periodically while the pipeline progresses, stops when it hangs, resumes when it recovers', async () => {
    const { log, at } = captureLogger();
    // WatchdogSec=0.4 → a ping every 200 ms.
    notifier = createNotifier(log, envFor({ WATCHDOG_USEC: '400000', WATCHDOG_PID: String(process.pid) }));
    expect(notifier.watchdogIntervalMs).toBe(200);
    let progressing = true;
    notifier.startWatchdog(() => progressing);
    await waitFor('three watchdog pings', () => listener.having('WATCHDOG=1').length >= 3, 10_000);

    // The pipeline hangs: the next tick withholds the ping (logged once, not per tick), and none follow.
    progressing = false;
    const hungAt = Date.now();
    await waitFor('the hang to be noticed', () => at('warn').some((l) => l.code === 'E_WATCHDOG'), 10_000);
    await pingsStop(listener, 'while the pipeline hangs', hungAt);
    expect(at('warn').filter((l) => l.code === 'E_WATCHDOG')).toHaveLength(1);

    const frozen = listener.having('WATCHDOG=1').length;
    progressing = true;
    await waitFor('pings to resume', () => listener.having('WATCHDOG=1').length >= frozen + 2, 10_000);
    expect(at('info').some((l) => /resumed/.test(l.msg))).toBe(true);

    notifier.stop();
    await pingsStop(listener, 'after stop()', Date.now());
  });

  it('with a real progress check: a hung inference loop (cameras online, nothing inspected) stops the pings', async () => {
    const { log, at } = captureLogger();
    notifier = createNotifier(log, envFor({ WATCHDOG_USEC: '400000' }));
    const cams = [{ state: 'online' as const, framesInspected: 0 }];
    const inspecting = setInterval(() => cams[0].framesInspected++, 50);
    try {
      notifier.startWatchdog(createProgressCheck(() => cams, 500));
      await waitFor('pings while frames are inspected', () => listener.having('WATCHDOG=1').length >= 3, 10_000);
      clearInterval(inspecting); // the inference loop hangs
      // Pings go on until the 500 ms progress window runs out, then stop for good.
      await pingsStop(listener, 'after the inference loop hung', Date.now() + 500);
      expect(at('warn').filter((l) => l.code === 'E_WATCHDOG')).toHaveLength(1);
    } finally {
      clearInterval(inspecting);
    }
  });

  it('does not ping for another process (WATCHDOG_PID names someone else)', async () => {
    const { log } = captureLogger();
    notifier = createNotifier(log, envFor({ WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid + 1) }));
    expect(notifier.watchdogIntervalMs).toBeUndefined();
    notifier.startWatchdog(() => true);
    notifier.ready();
    await waitFor('READY=1', () => listener.having('READY=1').length > 0, 10_000);
    // Had it armed, it would ping every 100 ms; ten intervals pass without one.
    await pingsStop(listener, 'for another process', Date.now(), 1000);
    expect(listener.having('WATCHDOG=1')).toEqual([]);
  });

  it('a missing systemd-notify is logged once at warn and never throws', async () => {
    const { log, at } = captureLogger();
    notifier = createNotifier(log, envFor({ WATCHDOG_USEC: '100000' }), { command: '/nonexistent/systemd-notify' });
    notifier.ready();
    let ticks = 0;
    notifier.startWatchdog(() => ++ticks > 0);
    // Every tick tries a ping (each spawn fails at once), so by the fifth the failure has repeated.
    await waitFor('five watchdog ticks', () => ticks >= 5, 10_000);
    notifier.stop();
    await notifier.idle();
    const warnings = at('warn').filter((l) => l.code === 'E_SD_NOTIFY');
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0].err)).toMatch(/ENOENT/);
    expect(listener.messages).toEqual([]);
  });
});

describe('createProgressCheck', () => {
  it('is true with no camera online, and while inspections keep coming', () => {
    let t = 0;
    const cams = [{ state: 'connecting' as 'connecting' | 'online', framesInspected: 0 }];
    const check = createProgressCheck(() => cams, 1000, () => t);
    t = 5000;
    expect(check()).toBe(true); // nothing online: not a hang
    cams[0].state = 'online';
    t = 5500;
    expect(check()).toBe(true); // just came online: the window starts now
    t = 6400;
    expect(check()).toBe(true);
    t = 6600;
    expect(check()).toBe(false); // online for 1.1 s, nothing inspected
    cams[0].framesInspected = 1;
    t = 6700;
    expect(check()).toBe(true);
    t = 7700;
    expect(check()).toBe(true); // exactly the window
    t = 7701;
    expect(check()).toBe(false);
    cams[0].state = 'connecting';
    expect(check()).toBe(true); // camera dropped: ingest restarts it, systemd need not
  });
});
