import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLI, ROOT, runCli } from '../helpers/cli.js';
import { makeClip } from '../helpers/clips.js';
import { freePort } from '../helpers/mosquitto.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { waitFor } from '../helpers/wait.js';

const MODELS = join(ROOT, 'test/fixtures/models');
const V1 = join(MODELS, 'squares-v8.onnx');
const V2 = join(MODELS, 'squares-v8-fixture2.onnx');
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await expectNoStrays();
});
afterAll(() => killStrays());

function start(config: string): { child: ChildProcess; logs: Array<Record<string, unknown>>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const logs: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        logs.push({ msg: text });
      }
    }
  });
  return { child, logs, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

describe('linesight models (as processes)', () => {
  it('adds, lists, promotes, rolls back, shadows and compares; SIGHUP with a new model.path swaps without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'linesight-models-cli-'));
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 4, squares: [{ color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.5, to: 3 }] });
    const port = await freePort();
    const file = join(dir, 'line.yaml');
    const yaml = (model: string) => writeFileSync(file, [
      'site: s', 'line: l', 'cameras:', '  - id: cam1', `    url: ${clip}`, '    fps: 5',
      'model:', `  path: ${model}`, '  confidence: 0.5', '  shadow:', '    share: 1',
      'store:', `  path: ${join(dir, 'line.db')}`,
      'mqtt:', '  embedded_port: 0',
      'overlay:', '  host: 127.0.0.1', `  port: ${port}`, '  token: viewer-secret', '  operator_token: operator-secret',
      'log:', '  level: info',
    ].join('\n'));
    yaml(V1);
    const cli = async (...args: string[]) => {
      const r = await runCli(['models', ...args, '--config', file], { timeoutMs: 60_000 });
      if (r.code !== 0 && r.stdout === '') r.stdout = `(exit ${r.code}) ${r.stderr}`; // a failure shows in the assertion
      return r;
    };

    const added = await cli('add', V2);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/added squares-v8-fixture2 version fixture-2 \([0-9a-f]{12}\), 320×320, classes red, green, blue/);
    const stored = /stored as (\S+)/.exec(added.stdout)![1];
    expect(stored.startsWith(join(dir, 'models'))).toBe(true);
    expect(existsSync(stored)).toBe(true);
    const broken = await cli('add', join(MODELS, 'bad-layout.onnx'));
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('E_MODEL_LAYOUT');

    const run = start(file);
    await waitFor('cam1 online', () => run.logs.some((l) => l.msg === 'camera online'), 30_000);
    let listed = await cli('list');
    expect(listed.stdout).toMatch(/^active\s+fixture-1\s+squares-v8 /m);
    expect(listed.stdout).toMatch(/^\s+fixture-2\s+squares-v8-fixture2 /m);

    const promoted = await cli('promote', 'fixture-2');
    expect(promoted.stderr).toBe('');
    expect(promoted.stdout).toMatch(/squares-v8-fixture2 fixture-2 \([0-9a-f]{12}\) active, was fixture-1/);
    listed = await cli('list');
    expect(listed.stdout).toMatch(/^active\s+fixture-2 /m);
    expect(listed.stdout).toMatch(/^previous\s+fixture-1 /m);
    const unknown = await cli('promote', 'fixture-9');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/refused \(404 E_MODEL_REF\)/);

    const back = await cli('rollback');
    expect(back.stdout).toMatch(/squares-v8 fixture-1 .* active, was fixture-2/);

    const shadow = await cli('shadow', 'fixture-2');
    expect(shadow.stdout).toContain('shadow run of fixture-2 started');
    await waitFor('the shadow model on frames', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/api/models`, { headers: { authorization: 'Bearer viewer-secret' } });
      const body = (await res.json()) as { candidate: { cameras: Array<{ frames: number }> } | null };
      return (body.candidate?.cameras[0]?.frames ?? 0) > 3;
    }, 20_000, 200);
    expect((await cli('shadow', '--stop')).stdout).toContain('shadow run stopped');
    const compared = await cli('compare');
    expect(compared.code).toBe(0);
    expect(compared.stdout).toMatch(/candidate fixture-2 \([0-9a-f]{12}\) vs active fixture-1/);
    // The viewer token reads, it does not change the model.
    const viewer = await fetch(`http://127.0.0.1:${port}/api/models/rollback`, { method: 'POST', headers: { authorization: 'Bearer viewer-secret' } });
    expect(viewer.status).toBe(403);

    // SIGHUP with a new model.path: a swap, the camera not restarted.
    yaml(V2);
    const swapped = () => run.logs.filter((l) => String(l.msg).startsWith('model squares-v8-fixture2 fixture-2 active')).length;
    const before = swapped(); // the promote above logged one
    run.child.kill('SIGHUP');
    await waitFor('the swap', () => swapped() > before || run.logs.find((l) => String(l.msg).startsWith('reload')), 30_000);
    expect(run.logs.filter((l) => String(l.msg).startsWith('reload')).map((l) => l.msg)).toEqual([]);
    expect(run.logs.filter((l) => l.msg === 'camera starting').length).toBe(1);
    // A model.path that does not load is refused; the running model stays.
    yaml(join(MODELS, 'squares-v8-640.onnx'));
    run.child.kill('SIGHUP');
    await waitFor('the refusal', () => run.logs.some((l) => String(l.msg).startsWith('reload: the new model.path was refused')), 30_000);
    listed = await cli('list');
    expect(listed.stdout).toMatch(/^active\s+fixture-2 /m);

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  }, 120_000);
});
