import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, runCli } from '../helpers/cli.js';
import { makeClip } from '../helpers/clips.js';
import { startMosquitto, writePasswordFile, type Mosquitto } from '../helpers/mosquitto.js';
import { connectPage, rawGet } from '../helpers/overlay-client.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { subscribe, type Subscriber } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';

/*
 * The real `linesight run`, configured with distinctive secrets through the
 * environment, watched from every side an operator, an integrator or a log
 * collector sees: none of them may carry a secret, in clear, URL-encoded or
 * base64.
 */

const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const SECRETS = {
  'mqtt.password': 'mqtt-Pw/7q+Xz3Kd9LmQ',
  'overlay.token': 'ovl-Tk/4w+Hj8Rt2NcVb',
  'sync.token': 'sync-Tk/9e+Ws5Gy1PaZo',
};

const dir = mkdtempSync(join(tmpdir(), 'linesight-secrets-'));
let broker: Mosquitto | undefined;
let sub: Subscriber | undefined;
let child: ChildProcess | undefined;

afterAll(async () => {
  child?.kill('SIGKILL');
  await sub?.close();
  await broker?.dispose();
  rmSync(dir, { recursive: true, force: true });
  try {
    await expectNoStrays();
  } finally {
    await killStrays();
  }
});

/** Every form a secret could take on its way out: as is, URL-encoded, base64 (alone or as HTTP Basic's user:password). */
function forms(secret: string): string[] {
  return [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64'), Buffer.from(`linesight:${secret}`).toString('base64')];
}

function expectNoSecret(where: string, text: string): void {
  expect(text.length, `${where} is empty: nothing was checked`).toBeGreaterThan(0);
  for (const [key, secret] of Object.entries(SECRETS)) {
    for (const form of forms(secret)) expect(text.includes(form), `${where} contains ${key} (${form === secret ? 'in clear' : `as ${form}`})`).toBe(false);
  }
}

function writeConfig(file: string, brokerUrl: string, clip: string, extra: string[] = []): void {
  writeFileSync(file, [
    'site: s1', 'line: l1',
    'cameras:', '  - id: cam1', `    url: ${clip}`, '    fps: 5',
    'model:', `  path: ${MODEL}`, '  confidence: 0.5',
    'events:', '  confirm_hits: 2', '  confirm_window: 3',
    'store:', `  path: ${join(dir, 'line.db')}`,
    'mqtt:', `  url: ${brokerUrl}`, '  username: linesight',
    'overlay:', '  host: 127.0.0.1', '  port: 0',
    'sync:', '  url: http://127.0.0.1:9/upload',
    'log:', '  level: debug',
    ...extra,
  ].join('\n') + '\n');
}

const env = {
  LINESIGHT_MQTT_PASSWORD: SECRETS['mqtt.password'],
  LINESIGHT_OVERLAY_TOKEN: SECRETS['overlay.token'],
  LINESIGHT_SYNC_TOKEN: SECRETS['sync.token'],
};

describe('secrets never leave the process', () => {
  it('appear in no log line, MQTT status, HTTP answer, page message or check-config output', async () => {
    // The broker first knows another password for linesight: the refusal gets logged, then the right one is installed.
    const passwordFile = writePasswordFile(dir, { linesight: 'not-the-configured-one', reader: 'reader-pw' });
    broker = await startMosquitto({ passwordFile });
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 3, squares: [{ color: 'red', x: 100, y: 80, w: 60, h: 60 }] });
    const config = join(dir, 'line.yaml');
    writeConfig(config, broker.url, clip);

    let output = '';
    const proc = spawn(process.execPath, [CLI, 'run', '--config', config], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

    const logged = <T>(what: string, check: () => T) => waitFor(what, check, 20_000, 50).catch((err: Error) => {
      throw new Error(`${err.message}; linesight wrote:\n${output.slice(-4000)}`);
    });
    const base = await logged('the overlay address in the log', () => /"url":"(http:\/\/127\.0\.0\.1:\d+\/)"/.exec(output)?.[1]);
    await logged('the broker refusing the configured password, logged', () => /cannot connect to the MQTT broker/.test(output));

    // Subscribed before the line can get in: its first alert is not retained, and it goes out as soon as the line connects.
    sub = await subscribe(broker.url, 'linesight/#', { username: 'reader', password: 'reader-pw' });
    writePasswordFile(dir, { linesight: SECRETS['mqtt.password'], reader: 'reader-pw' });
    await broker.reload();
    await sub.waitFor((m) => m.some((x) => x.topic === 'linesight/s1/l1/status' && x.body.state === 'online')
      && m.some((x) => x.topic === 'linesight/s1/l1/cam1/status') && m.some((x) => x.topic.endsWith('/alert')), 50_000); // the refusals grew the line's reconnect backoff (up to 30 s)

    const token = encodeURIComponent(SECRETS['overlay.token']);
    // The token is in force: refused without it.
    expect((await rawGet(base, '/metrics')).status).toBe(401);
    const answers = {
      '/metrics': await rawGet(base, `/metrics?token=${token}`),
      '/healthz': await rawGet(base, '/healthz'),
      '/api/alerts': await rawGet(base, '/api/alerts', { Authorization: `Bearer ${SECRETS['overlay.token']}` }),
      '/ (401)': await rawGet(base, '/?token=wrong'),
    };
    expect(answers['/metrics'].status).toBe(200);
    expect(JSON.parse(answers['/api/alerts'].body).alerts.length).toBeGreaterThan(0);
    const page = await connectPage(base, { token: SECRETS['overlay.token'] });
    await waitFor('hello, status and alerts on the socket', () => page.of('hello').length > 0 && page.of('status').length > 0 && page.of('alerts').length > 0, 5000);
    page.ws.close();
    // A refused cross-site page and a wrong token get logged too: with the token in the URL they knocked with.
    await expect(connectPage(base, { token: SECRETS['overlay.token'], origin: 'https://evil.example' })).rejects.toMatchObject({ status: 403 });

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);

    const checked = await runCli(['check-config', config], { env });
    expect(checked.code).toBe(0);
    const broken = join(dir, 'broken.yaml');
    writeConfig(broken, broker.url, clip, ['surprise: 1']);
    const refused = await runCli(['check-config', broken], { env });
    expect(refused.code).toBe(1);

    expect(output).toMatch(/Not authorized|Bad User Name or Password/); // the refusal was logged, with its reason
    expectNoSecret('the output of linesight run', output);
    for (const m of sub.messages) expectNoSecret(`MQTT ${m.topic}`, JSON.stringify(m.body));
    for (const [path, res] of Object.entries(answers)) expectNoSecret(`HTTP ${path}`, JSON.stringify(res.headers) + res.body);
    expectNoSecret('the page socket', JSON.stringify(page.texts));
    expectNoSecret('check-config', checked.stdout + checked.stderr);
    expectNoSecret('check-config with a problem', refused.stdout + refused.stderr);
  }, 120_000);
});
