import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/cli.js';
import { makeClip } from '../helpers/clips.js';
import { startNotifyListener, type NotifyListener } from '../helpers/notify-listener.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { waitFor } from '../helpers/wait.js';

let listener: NotifyListener | undefined;
let child: ChildProcess | undefined;
let dir: string | undefined;

afterEach(async () => {
  child?.kill('SIGKILL');
  await listener?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  await expectNoStrays();
});
afterAll(() => killStrays());

describe('linesight under a systemd notify socket (Type=notify, WatchdogSec)', () => {
  it('sends READY=1 once running, WATCHDOG=1 while inspecting, STOPPING=1 on SIGTERM', async () => {
    listener = await startNotifyListener();
    dir = mkdtempSync(join(tmpdir(), 'linesight-notify-run-'));
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 4 });
    const cfg = join(dir, 'line.yaml');
    writeFileSync(cfg, [
      'cameras:', '  - id: cam1', `    url: ${clip}`, '    fps: 5',
      'model:', `  path: ${join(ROOT, 'test/fixtures/models/squares-v8.onnx')}`,
      'store:', `  path: ${join(dir, 'line.db')}`,
      'mqtt:', '  embedded_port: 0',
      'overlay:', '  host: 127.0.0.1', '  port: 0',
      'log:', '  level: warn',
    ].join('\n'));
    // WATCHDOG_USEC=2 s: pings every second; no WATCHDOG_PID, so any pid may send.
    child = spawn(process.execPath, [CLI, 'run', '--config', cfg], {
      stdio: 'ignore',
      env: { ...process.env, NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '2000000' },
    });
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    await waitFor('READY=1', () => listener!.having('READY=1').length > 0, 30_000);
    await waitFor('three watchdog pings', () => listener!.having('WATCHDOG=1').length >= 3, 15_000);
    const pings = listener.having('WATCHDOG=1').map((m) => m.at);
    expect(pings[2] - pings[1]).toBeLessThan(2000); // inside WatchdogSec
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The datagram was handled before the exit (systemd-notify's barrier); its line may still be on the listener's pipe.
    await waitFor('STOPPING=1', () => listener!.having('STOPPING=1').length > 0, 5000);
    expect(listener.having('STOPPING=1')).toHaveLength(1);
  });
});
