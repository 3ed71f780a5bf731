/**
 * scripts/install.sh laid out into a temporary root: releases, the current /
 * previous switch, config validation before the switch, the online database
 * backup, rollback and pruning. systemd itself is not touched (--no-systemd):
 * there is no systemd as PID 1 in this container. The release being installed
 * is a small prebuilt fake tree (--prebuilt: npm never runs) whose
 * `check-config` records its calls, with a copy of better-sqlite3 for the real
 * online backup.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('install-script.test.ts skipped: scripts/install.sh must run as root (it chowns to the service user)');

describe.skipIf(!isRoot)('scripts/install.sh', () => {
  let root: string;
  let src: string;
  let calls: string;
  const p = (...parts: string[]) => join(root, ...parts);

  const FAKE_CLI = `#!/usr/bin/env node
const fs = require('node:fs');
const [cmd, file] = process.argv.slice(2);
if (cmd === 'check-config') {
  fs.appendFileSync(process.env.LINESIGHT_TEST_CALLS, 'check-config ' + file + '\\n');
  process.exit(/invalid/.test(fs.readFileSync(file, 'utf8')) ? 1 : 0);
}
process.exit(2);
`;
  // What the backup step needs from a release: the loader's store.path, and better-sqlite3.
  const FAKE_LOADER = `const fs = require('node:fs');
exports.loadConfig = (file) => ({ store: { path: /db: (\\S+)/.exec(fs.readFileSync(file, 'utf8'))[1] } });
`;

  function install(...args: string[]) {
    const r = spawnSync('bash', [join(src, 'scripts/install.sh'), '--prebuilt', '--no-systemd', '--no-user', ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        LINESIGHT_PREFIX: p('opt'),
        LINESIGHT_ETC: p('etc'),
        LINESIGHT_UNIT_DIR: p('units'),
        LINESIGHT_STATE_DIR: p('state'),
        LINESIGHT_USER: 'root',
        LINESIGHT_NODE: process.execPath,
        LINESIGHT_TEST_CALLS: calls,
        npm_config_update_notifier: 'false',
      },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  }
  const current = () => readlinkSync(p('opt/current'));
  const previous = () => readlinkSync(p('opt/previous'));
  const releases = () => readdirSync(p('opt/releases')).filter((n) => !n.startsWith('.')).sort();

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'linesight-install-'));
    src = p('src');
    calls = p('calls.txt');
    writeFileSync(calls, '');
    mkdirSync(join(src, 'dist/config'), { recursive: true });
    mkdirSync(join(src, 'scripts'), { recursive: true });
    mkdirSync(join(src, 'systemd'), { recursive: true });
    mkdirSync(join(src, 'node_modules'), { recursive: true });
    writeFileSync(join(src, 'package.json'), JSON.stringify({ name: 'linesight', version: '9.9.9', private: true }));
    writeFileSync(join(src, 'dist/cli.js'), FAKE_CLI);
    writeFileSync(join(src, 'dist/config/load.js'), FAKE_LOADER);
    // Copies, never links: nothing the script does may reach the repository's own node_modules.
    for (const dep of ['better-sqlite3', 'bindings', 'file-uri-to-path']) {
      cpSync(join(REPO, 'node_modules', dep), join(src, 'node_modules', dep), {
        recursive: true,
        filter: (f) => !/\/better-sqlite3\/(deps|src|build\/Release\/(obj|obj\.target|\.deps))(\/|$)/.test(f),
      });
    }
    copyFileSync(join(REPO, 'scripts/install.sh'), join(src, 'scripts/install.sh'));
    for (const f of ['linesight.service', 'line.example.yaml', 'linesight.env.example']) copyFileSync(join(REPO, 'systemd', f), join(src, 'systemd', f));
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('first run: lays out a release, installs the config template and secrets file, does not validate a template', () => {
    const r = install();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/no configuration yet/);
    expect(releases()).toHaveLength(1);
    expect(current()).toBe(`releases/${releases()[0]}`);
    expect(releases()[0]).toMatch(/^9\.9\.9-\d{8}T\d{6}Z$/);
    expect(readFileSync(p('etc/line.yaml'), 'utf8')).toBe(readFileSync(join(REPO, 'systemd/line.example.yaml'), 'utf8'));
    expect(statSync(p('etc/linesight.env')).mode & 0o777).toBe(0o640);
    expect(statSync(p('etc')).mode & 0o777).toBe(0o750);
    expect(readFileSync(calls, 'utf8')).toBe('');
    // The unit is rewritten to this layout.
    const unit = readFileSync(p('units/linesight.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${p('opt')}/current/dist/cli.js run --config ${p('etc')}/line.yaml`);
    expect(unit).toContain(`EnvironmentFile=-${p('etc')}/linesight.env`);
    expect(unit).toContain('User=root');
    expect(unit).not.toContain('/opt/linesight');
  });

  it('an upgrade validates the config with the new code, backs the live database up online, and keeps the old release as previous', () => {
    const dbPath = p('state/linesight.db');
    mkdirSync(p('state'), { recursive: true });
    const live = new Database(dbPath);
    live.pragma('journal_mode = WAL');
    live.exec('CREATE TABLE outbox (id TEXT PRIMARY KEY); INSERT INTO outbox VALUES (\'alert-1\')');
    const cfg = p('line.yaml');
    writeFileSync(cfg, `site: a\n# db: ${dbPath}\n`);
    const first = current();
    try {
      // The database stays open (WAL, uncheckpointed) while the backup runs, as under a running service.
      const r = install('--config', cfg);
      expect(r.code, r.out).toBe(0);
    } finally {
      live.close();
    }
    expect(readFileSync(calls, 'utf8')).toBe(`check-config ${p('etc/line.yaml')}\n`);
    expect(current()).not.toBe(first);
    expect(previous()).toBe(first);
    const backups = readdirSync(p('state/backups'));
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatch(new RegExp(`^pre-upgrade-${first.replace('releases/', '')}-.*\\.db$`));
    const copy = new Database(join(p('state/backups'), backups[0]), { readonly: true });
    expect(copy.prepare('SELECT id FROM outbox').all()).toEqual([{ id: 'alert-1' }]);
    copy.close();
  });

  it('a configuration the new release rejects switches nothing and leaves no half-installed release', () => {
    const before = { current: current(), previous: previous(), releases: releases() };
    const bad = p('bad.yaml');
    writeFileSync(bad, 'invalid: true\n');
    const r = install('--config', bad, '--no-backup');
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/does not validate/);
    expect({ current: current(), previous: previous(), releases: releases() }).toEqual(before);
    // The rejected file was installed, the old one kept beside it: put it back for the next steps.
    expect(readdirSync(p('etc')).some((f) => f.startsWith('line.yaml.bak-'))).toBe(true);
    copyFileSync(p('line.yaml'), p('etc/line.yaml'));
  });

  it('--rollback swaps current and previous', () => {
    const [cur, prev] = [current(), previous()];
    const r = install('--rollback');
    expect(r.code, r.out).toBe(0);
    expect(current()).toBe(prev);
    expect(previous()).toBe(cur);
    expect(existsSync(p('opt/current/dist/cli.js'))).toBe(true);
  });

  it('keeps --keep releases besides current and previous', () => {
    for (let i = 0; i < 3; i++) expect(install('--no-backup', '--keep', '1').code).toBe(0);
    const names = releases().map((n) => `releases/${n}`);
    expect(names).toContain(current());
    expect(names).toContain(previous());
    expect(names).toHaveLength(3); // current + previous + 1 kept
  });
});
