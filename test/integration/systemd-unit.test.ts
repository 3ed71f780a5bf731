/**
 * systemd/linesight.service checked by systemd's own parser
 * (`systemd-analyze verify`) and its offline security review. No systemd runs
 * as PID 1 here; both commands work on unit files alone. They come with the
 * `systemd` package (scripts/install-deps.sh); without it these tests are
 * skipped, and say so.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const UNIT = resolve(import.meta.dirname, '../../systemd/linesight.service');
const text = readFileSync(UNIT, 'utf8');

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const haveAnalyze = analyze.status === 0;
if (!haveAnalyze) console.warn('systemd-unit.test.ts: systemd-analyze verify skipped: systemd-analyze is not installed (apt-get install systemd)');

/** Directive values in a section, in file order. */
function values(key: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

describe('systemd/linesight.service', () => {
  it('runs as notify service with a progress watchdog, restarts forever within sane limits', () => {
    expect(values('Type')).toEqual(['notify']);
    expect(values('NotifyAccess')).toEqual(['all']); // notifications come from systemd-notify children
    expect(values('WatchdogSec')).toEqual(['30']);
    expect(values('Restart')).toEqual(['always']);
    expect(values('RestartSec')).toEqual(['5']);
    expect(values('StartLimitIntervalSec')).toHaveLength(1);
    expect(values('StartLimitBurst')).toHaveLength(1);
    expect(values('TimeoutStopSec')).toEqual(['20']);
    expect(values('KillMode')).toEqual(['mixed']);
    expect(values('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
  });

  it('runs as the dedicated user with state, logs, secrets and hardening', () => {
    expect(values('User')).toEqual(['linesight']);
    expect(values('StateDirectory')).toEqual(['linesight']);
    expect(values('LogsDirectory')).toEqual(['linesight']);
    expect(values('EnvironmentFile')).toEqual(['-/etc/linesight/linesight.env']);
    expect(values('ExecStart')).toEqual(['/usr/bin/node /opt/linesight/current/dist/cli.js run --config /etc/linesight/line.yaml']);
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ReadWritePaths', '-/var/lib/linesight'], ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'], ['RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6'],
    ]) expect(values(key), key).toEqual([value]);
    // Each of these would cut the GPU off or break V8 (see the comments in the unit).
    for (const key of ['MemoryDenyWriteExecute', 'PrivateDevices', 'DevicePolicy', 'ProtectClock', 'SupplementaryGroups']) {
      expect(values(key), key).toEqual([]);
    }
  });
});

describe.skipIf(!haveAnalyze)('systemd-analyze', () => {
  let dir: string;
  let unitCopy: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'linesight-unit-'));
    // verify checks that ExecStart's binary exists; point it at this Node as install.sh would.
    unitCopy = join(dir, 'linesight.service');
    writeFileSync(unitCopy, text.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('verify finds nothing to complain about', () => {
    const r = spawnSync('systemd-analyze', ['verify', unitCopy], { encoding: 'utf8' });
    const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('linesight.service'));
    expect(complaints, `${r.stdout}${r.stderr}`).toEqual([]);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('verify is not a rubber stamp here: a broken copy of the unit is rejected', () => {
    const broken = join(dir, 'broken.service');
    writeFileSync(broken, text.replace('KillMode=mixed', 'KillMode=sometimes').replace(/^ExecStart=\/usr\/bin\/node /m, 'ExecStart=/nonexistent/node '));
    const r = spawnSync('systemd-analyze', ['verify', broken], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/kill mode/i);
  });

  it('the offline security review rates the exposure below 5 ("OK")', (ctx) => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitCopy], { encoding: 'utf8' });
    const m = /Overall exposure level for \S+: ([\d.]+)/.exec(`${r.stdout}${r.stderr}`);
    if (!m) {
      console.warn(`systemd-analyze security --offline skipped: this systemd (${analyze.stdout.split('\n')[0]}) has no offline mode`);
      ctx.skip();
      return;
    }
    expect(Number(m[1])).toBeLessThan(5);
  });
});
