import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLinesightError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { startPublisher, type Publisher, type PublisherOptions } from '../../src/publish/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { captureLogger, type LogLine } from '../helpers/capture-log.js';
import { makeCerts } from '../helpers/certs.js';
import { makeEvent } from '../helpers/events.js';
import { startMosquitto, writePasswordFile, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning, mqttConfig } from '../helpers/mqtt-config.js';
import { subscribe } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'linesight-mqtt-sec-'));
const model = { name: 'm', version: '1' };
const cleanups: Array<() => Promise<void> | void> = [];

afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
  rmSync(dir, { recursive: true, force: true });
});

async function broker(...args: Parameters<typeof startMosquitto>): Promise<Mosquitto> {
  const b = await startMosquitto(...args);
  cleanups.push(() => b.dispose());
  return b;
}

let n = 0;
function store(): Store {
  const s = openStore(join(dir, `s${++n}.db`), { outboxMaxRows: 1000, outboxFullPolicy: 'drop_oldest' }, silentLogger());
  cleanups.push(() => s.close());
  return s;
}

async function publisher(opts: Partial<PublisherOptions> & Pick<PublisherOptions, 'mqtt' | 'outbox'>): Promise<Publisher> {
  const p = await startPublisher({ site: 'plant', line: 'line1', model, version: '0.1.0', cameras: () => ['cam1'], log: silentLogger(), tuning: fastTuning, ...opts });
  cleanups.push(() => p.stop());
  return p;
}

/** Failed connection attempts so far: the first is logged at warn, each repeat of the same cause at debug. */
const failedAttempts = (lines: LogLine[]) => lines.filter((l) => l.code === 'E_MQTT' && /cannot connect|failed again/.test(l.msg)).length;

describe('broker credentials and TLS', () => {
  it('a wrong password is logged once with the CONNACK reason; alerts wait and go out with the right one', async () => {
    const passwordFile = writePasswordFile(dir, { linesight: 'right-secret', reader: 'reader-secret' });
    const b = await broker({ passwordFile });
    const outbox = store();
    const { log, lines, at } = captureLogger();
    const wrong = await publisher({ mqtt: mqttConfig({ url: b.url, username: 'linesight', password: 'wrong' }), outbox, log });
    for (let i = 0; i < 5; i++) {
      outbox.recordEvent(makeEvent(), model);
      wrong.kick();
    }
    // Several refused attempts with the test backoff (100 → 800 ms), so "once" means once.
    await waitFor('three refused connection attempts', () => failedAttempts(lines) >= 3, 15_000);
    expect(wrong.connected).toBe(false);
    expect(outbox.depth()).toBe(5);
    const warns = at('warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({ code: 'E_MQTT' });
    expect(warns[0].msg).toMatch(/cannot connect to the MQTT broker .*Connection refused: (Not authorized|Bad User Name or Password) \(CONNACK reason 13[45]\).*mqtt\.password/);
    expect(wrong.lastError?.kind).toBe('refused');
    await wrong.stop();

    const sub = await subscribe(b.url, 'linesight/#', { username: 'reader', password: 'reader-secret' });
    cleanups.push(() => sub.close());
    await publisher({ mqtt: mqttConfig({ url: b.url, username: 'linesight', password: 'right-secret' }), outbox });
    await sub.waitFor((m) => m.filter((x) => x.topic.endsWith('/alert')).length >= 5);
    const alerts = sub.messages.filter((x) => x.topic.endsWith('/alert'));
    expect(alerts.map((a) => a.body.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(alerts.every((a) => a.body.replayed === true)).toBe(true);
  });

  it('TLS works with mqtt.tls.ca and fails clearly without it', async () => {
    const certs = makeCerts(dir);
    const b = await broker({ tls: { cafile: certs.ca, certfile: certs.cert, keyfile: certs.key } });
    expect(b.url).toMatch(/^mqtts:/);

    const { log, lines, at } = captureLogger();
    const untrusted = store();
    const bad = await publisher({ mqtt: mqttConfig({ url: b.url, client_id: 'no-ca' }), outbox: untrusted, log });
    untrusted.recordEvent(makeEvent(), model);
    await waitFor('three failed TLS handshakes', () => failedAttempts(lines) >= 3, 15_000);
    expect(bad.connected).toBe(false);
    expect(untrusted.depth()).toBe(1);
    const warns = at('warn');
    expect(warns).toHaveLength(1);
    expect(warns[0].msg).toMatch(/cannot connect to the MQTT broker .*TLS: .*(certificate|issuer).*mqtt\.tls\.ca/);
    expect(bad.lastError?.kind).toBe('tls');
    await bad.stop();

    const sub = await subscribe(b.url, 'linesight/plant/line1/+/alert', { ca: certs.ca });
    cleanups.push(() => sub.close());
    const trusted = store();
    const good = await publisher({ mqtt: mqttConfig({ url: b.url, client_id: 'with-ca', tls: { ca: certs.ca, reject_unauthorized: true } }), outbox: trusted });
    await waitFor('the publisher with the CA to connect', () => good.connected, 10_000);
    const e = makeEvent();
    trusted.recordEvent(e, model);
    good.kick();
    await sub.waitFor((m) => m.length >= 1);
    expect(sub.messages[0].body.id).toBe(e.id);
  });

  it('an alert refused by the broker ACL stays in the outbox without blocking other cameras', async () => {
    const aclFile = join(dir, 'acl');
    const acl = (cameras: string) =>
      `topic write linesight/plant/line1/status\ntopic write linesight/plant/line1/+/status\n${cameras}topic read linesight/#\n`;
    writeFileSync(aclFile, acl('topic write linesight/plant/line1/cam1/alert\n'));
    const b = await broker({ aclFile });
    const sub = await subscribe(b.url, 'linesight/plant/line1/+/alert');
    cleanups.push(() => sub.close());
    const outbox = store();
    const { log, lines, at } = captureLogger();
    const pub = await publisher({ mqtt: mqttConfig({ url: b.url, client_id: 'acl-pub' }), outbox, log });
    await waitFor('the publisher to connect', () => pub.connected, 10_000);
    for (let i = 0; i < 3; i++) outbox.recordEvent(makeEvent({ camera: 'cam2' }), model); // oldest, refused
    for (let i = 0; i < 30; i++) outbox.recordEvent(makeEvent({ camera: 'cam1' }), model);
    pub.kick();
    await sub.waitFor((m) => m.length >= 30);
    // Each refused alert refused three times: the first PUBLISH and two retries (retryMs 300 in the test tuning).
    const refusals = () => lines.filter((l) => l.code === 'E_MQTT' && l.camera === 'cam2').length;
    await waitFor('two retries of the refused alerts', () => refusals() >= 9, 15_000);
    expect(sub.messages.every((m) => m.body.camera === 'cam1')).toBe(true);
    expect(outbox.depth()).toBe(3);
    expect(pub.connected).toBe(true);
    expect(pub.counters.published).toBeGreaterThan(33);
    const warns = at('warn');
    expect(warns).toHaveLength(1);
    expect(warns[0].msg).toMatch(/the broker refused alert seq 1 of cam2: Publish error: Not authorized.*ACL/);

    writeFileSync(aclFile, acl('topic write linesight/plant/line1/+/alert\n'));
    await b.reload();
    await sub.waitFor((m) => m.length >= 33);
    // Sorted: the ACL reload may land between two retried PUBLISHes, so a refused alert can pass after a later one.
    const late = sub.messages.slice(30).map((m) => [m.body.camera, m.body.seq as number, m.body.replayed] as const);
    expect([...late].sort((a, b) => a[1] - b[1])).toEqual([
      ['cam2', 1, true], ['cam2', 2, true], ['cam2', 3, true],
    ]);
    await waitFor('the outbox to drain', () => outbox.depth() === 0, 10_000);
    expect(at('info').filter((l) => /accepts the refused alerts now/.test(l.msg))).toHaveLength(1);
  });

  it('refuses a TLS file that cannot be read, naming the config key', async () => {
    await expect(
      startPublisher({
        mqtt: mqttConfig({ url: 'mqtts://127.0.0.1:1', tls: { ca: join(dir, 'missing.pem'), reject_unauthorized: true } }),
        site: 'plant', line: 'line1', model, version: '0', cameras: () => [], outbox: store(), log: silentLogger(),
      }).catch((err: unknown) => {
        expect(isLinesightError(err, 'E_CONFIG')).toBe(true);
        throw err;
      }),
    ).rejects.toThrow(/mqtt\.tls\.ca: expected a readable PEM file/);
  });
});
