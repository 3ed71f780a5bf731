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
    // An invalid value and a missing binary: systemd warns about the first and refuses the second.
    writeFileSync(broken, text.replace(/^\[Service\]$/m, '[Service]\nKillMode=sometimes').replace(/^ExecStart=\/usr\/bin\/node /m, 'ExecStart=/nonexistent/node '));
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
