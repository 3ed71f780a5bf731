import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { OverlayConfig } from '../../src/config/schema.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { CLIENT_MESSAGE_RATE, CloseCodes } from '../../src/overlay/protocol.js';
import { startOverlay, type Overlay, type OverlayOptions } from '../../src/overlay/server.js';
import { captureLogger } from '../helpers/capture-log.js';
import { makeEvent } from '../helpers/events.js';
import { launchChromium, litPixels } from '../helpers/overlay-browser.js';
import { connectPage, rawExchange, rawGet, upgradeRequest, type Received } from '../helpers/overlay-client.js';
import { HandSource, rgbFrame } from '../helpers/overlay-source.js';
import { waitFor } from '../helpers/wait.js';

/*
 * The overlay against clients that do not behave like its page: cross-site
 * pages, crowds of sockets, half-sent requests, message floods. Real http/ws
 * sockets on port 0, a real Chromium for the page's policy.
 */

const TOKEN = 'hostile-test-token-4417';
const overlays: Overlay[] = [];
const pages: Received[] = [];
const timers: NodeJS.Timeout[] = [];
const servers: Server[] = [];
let browser: Browser | undefined;

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const p of pages.splice(0)) p.ws.terminate();
  await Promise.all(overlays.splice(0).map((o) => o.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(async () => {
  await browser?.close();
});

async function start(source: HandSource, over: Partial<OverlayConfig> = {}, opts: OverlayOptions = {}, log: Logger = silentLogger()): Promise<Overlay> {
  const config: OverlayConfig = { host: '127.0.0.1', port: 0, preview_width: 160, preview_fps: 5, max_clients: 4, allowed_origins: [], ...over };
  const o = await startOverlay(config, source, log, opts);
  overlays.push(o);
  return o;
}

async function page(o: Overlay, opts?: Parameters<typeof connectPage>[1]): Promise<Received> {
  const p = await connectPage(o.url, opts);
  pages.push(p);
  return p;
}

/** A page that got its hello: admitted, not refused after the handshake. */
async function admitted(o: Overlay, opts?: Parameters<typeof connectPage>[1]): Promise<Received> {
  const p = await page(o, opts);
  await waitFor('hello', () => p.of('hello').length > 0, 5000);
  return p;
}

function pumpFrames(source: HandSource, camera: string, fps: number): void {
  const rgb = rgbFrame(160, 120, { square: { x: 40, y: 30, w: 60, h: 40 } });
  let seq = 0;
  timers.push(setInterval(() => source.pushFrame({ camera, seq: ++seq, captureTs: Date.now(), width: 160, height: 120, rgb }), 1000 / fps));
}

/** The browser globals the page-side snippets use (the project compiles without the DOM lib). */
interface BrowserSocket { onopen: (() => void) | null; onclose: ((e: { code: number }) => void) | null; close(): void }
interface BrowserElement { src: string; complete: boolean; naturalWidth: number }
interface BrowserGlobals {
  WebSocket: new (url: string) => BrowserSocket;
  Image: new () => BrowserElement;
  __violations: string[];
  document: {
    addEventListener(type: 'securitypolicyviolation', fn: (e: { violatedDirective: string; blockedURI: string }) => void): void;
    querySelector(selector: string): BrowserElement | null;
    body: { append(node: BrowserElement): void };
  };
}

const activeHandles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;

describe('Origin of WebSocket upgrades (token set)', () => {
  it('refuses a cross-site page with 403 even with the right token; admits its own origin, a listed one and scripts without Origin', async () => {
    const { log, at } = captureLogger();
    const o = await start(new HandSource(['cam1']), { token: TOKEN, allowed_origins: ['https://hmi.plant.local'] }, {}, log);
    const own = `http://127.0.0.1:${o.port}`;

    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${o.port + 1}`, `${own}.evil.example`, `https://hmi.plant.local.evil.example`, 'http://hmi.plant.local']) {
      for (const header of [false, true]) {
        await expect(connectPage(o.url, { token: TOKEN, header, origin }), `${origin} (token in ${header ? 'header' : 'query'})`).rejects.toMatchObject({ status: 403 });
      }
    }
    // A cross-site page without the token also hears 403: it never learns whether a token would have worked.
    await expect(connectPage(o.url, { origin: 'https://evil.example' })).rejects.toMatchObject({ status: 403 });

    await admitted(o, { token: TOKEN, origin: own });
    await admitted(o, { token: TOKEN, origin: 'https://hmi.plant.local' });
    await admitted(o, { token: TOKEN, origin: 'https://HMI.plant.local:443' }); // the same origin, spelled otherwise
    await admitted(o, { token: TOKEN }); // a script: no Origin
    // The token still applies to an accepted Origin and to no Origin.
    await expect(connectPage(o.url, { origin: own })).rejects.toMatchObject({ status: 401 });
    await expect(connectPage(o.url, { token: 'wrong', origin: own })).rejects.toMatchObject({ status: 401 });
    await expect(connectPage(o.url)).rejects.toMatchObject({ status: 401 });
    expect(o.clients()).toBe(4);

    const refused = at('warn').filter((l) => /another site/.test(l.msg));
    expect(refused).toHaveLength(1); // thirteen refusals, one line (the next comes with a count, a minute later)
    expect(refused[0]).toMatchObject({ origin: 'https://evil.example', stage: 'overlay' });
    expect(JSON.stringify(at('warn'))).not.toContain(TOKEN);
  });

  it('logs a page that hammers the socket once, then a count per interval', async () => {
    const { log, at } = captureLogger();
    const o = await start(new HandSource(['cam1']), { token: TOKEN }, { refusalLogMs: 500 }, log);
    const refusedLines = () => at('warn').filter((l) => /another site/.test(l.msg));
    for (let i = 0; i < 20; i++) await expect(connectPage(o.url, { token: TOKEN, origin: 'https://evil.example' })).rejects.toMatchObject({ status: 403 });
    const summary = await waitFor('the count of the refusals after the first', () => refusedLines().find((l) => l.refused === 19), 5000);
    expect(summary.msg).toContain('19 more');
    expect(refusedLines()).toHaveLength(2);
  });

  it('does not check the Origin without a token: an open overlay is readable by anyone anyway', async () => {
    const o = await start(new HandSource(['cam1']));
    await admitted(o, { origin: 'https://evil.example' });
  });

  it('a real cross-site page in Chromium cannot open the socket; a page from a listed origin can', async () => {
    const servePage = async () => {
      const s = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>other site</title>'));
      servers.push(s);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    };
    const listed = await servePage();
    const stranger = await servePage();
    const o = await start(new HandSource(['cam1']), { token: TOKEN, allowed_origins: [listed] });
    browser ??= await launchChromium();
    const tab = await browser.newPage();
    try {
      const tryOpen = async (from: string) => {
        await tab.goto(from);
        return tab.evaluate((wsUrl) => new Promise<string>((resolve) => {
          const ws = new (globalThis as unknown as BrowserGlobals).WebSocket(wsUrl);
          ws.onopen = () => { ws.close(); resolve('open'); };
          ws.onclose = (e) => resolve(`closed ${e.code}`);
        }), `ws://127.0.0.1:${o.port}/ws?token=${TOKEN}`);
      };
      expect(await tryOpen(stranger)).toBe('closed 1006'); // the handshake got a 403
      expect(await tryOpen(listed)).toBe('open');
    } finally {
      await tab.close();
    }
  });
});

describe('many connections at once', () => {
  it('admits exactly max_clients of 3× max_clients parallel sockets, refuses the rest with 1013, and leaks nothing', async () => {
    const max = 4;
    const o = await start(new HandSource(['cam1']), { max_clients: max }, { heartbeatMs: 60_000 });
    await rawGet(o.url, '/healthz', { Connection: 'close' }); // the first request's one-off handles (agents, timers) belong to the baseline
    await waitFor('no connection left from the warm-up', async () => (await o.connections()) === 0, 5000);
    const baseline = activeHandles();

    const round = async () => {
      const all = await Promise.all(Array.from({ length: 3 * max }, () => page(o)));
      const outcomes = await Promise.all(all.map(async (p) => {
        await waitFor('hello or close', () => p.of('hello').length > 0 || p.ws.readyState === p.ws.CLOSED, 5000, 10);
        return p.of('hello').length > 0 ? ('admitted' as const) : p.closed;
      }));
      const refusals = outcomes.filter((x) => x !== 'admitted');
      expect(outcomes.filter((x) => x === 'admitted')).toHaveLength(max);
      expect(refusals).toHaveLength(2 * max);
      for (const r of refusals) expect(r).toEqual({ code: CloseCodes.tryAgainLater, reason: `too many clients (max ${max})` });
      expect(o.clients()).toBe(max);
      return all;
    };

    const first = await round();
    for (const p of first) p.ws.close();
    await waitFor('every page gone', () => o.clients() === 0, 5000);
    const second = await round(); // room again once the first pages left
    for (const p of second) p.ws.close();
    await waitFor('every page gone', () => o.clients() === 0, 5000);

    await waitFor('no open connection on the server', async () => (await o.connections()) === 0, 5000);
    await waitFor(`active handles back to ${baseline}`, () => activeHandles() <= baseline, 5000);
  });

  it('bounds TCP connections: past maxConnections new ones are closed at once, and room returns', async () => {
    const o = await start(new HandSource(['cam1']), { max_clients: 8 }, { httpLimits: { maxConnections: 6 } });
    const held = await Promise.all(Array.from({ length: 6 }, () => page(o)));
    await waitFor('six pages connected', async () => (await o.connections()) === 6, 5000);
    // The seventh connection is accepted by the kernel and closed by Node before any byte: no answer at all.
    expect(await rawExchange(o.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('');
    for (const p of held) p.ws.terminate();
    await waitFor('the held connections gone', async () => (await o.connections()) === 0, 5000);
    expect((await rawGet(o.url, '/healthz')).status).toBe(200);
  });

  it('closes a request whose headers never finish (slowloris) with 408 and the security headers', async () => {
    const o = await start(new HandSource(['cam1']), {}, { httpLimits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    const t0 = performance.now();
    const answer = await rawExchange(o.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/X-Content-Type-Options: nosniff/i);
    expect(performance.now() - t0).toBeLessThan(5000);
    await waitFor('the connection closed on the server too', async () => (await o.connections()) === 0, 2000);
  });
});

describe('message floods', () => {
  it('closes a page that sends more than the rate with 1008; a page pinging at half the rate and the other pages carry on', async () => {
    const { log, at } = captureLogger();
    const source = new HandSource(['cam1']);
    const o = await start(source, {}, { heartbeatMs: 60_000 }, log);
    pumpFrames(source, 'cam1', 10);
    const quiet = await admitted(o);
    const steady = await admitted(o);
    const flooder = await admitted(o);

    let id = 0;
    timers.push(setInterval(() => steady.ws.send(JSON.stringify({ v: 1, type: 'ping', id: ++id })), 1000 / (CLIENT_MESSAGE_RATE / 2)));
    for (let i = 0; i < 500; i++) flooder.ws.send(JSON.stringify({ v: 1, type: 'ping', id: i }));
    const closed = await flooder.closed;
    expect(closed.code).toBe(CloseCodes.policy);
    expect(closed.reason).toBe(`expected at most ${CLIENT_MESSAGE_RATE} messages a second (bursts of 40) but received more`);
    // Answered up to the burst, then nothing: the flood never got a reply per message.
    expect(flooder.of('pong').length).toBeLessThanOrEqual(41);
    expect(at('warn').filter((l) => /too many messages/.test(l.msg))).toHaveLength(1);

    // Two seconds and more at half the rate: every ping answered, the connection kept.
    await waitFor('twenty-five pongs at the steady page', () => steady.of('pong').length >= 25, 10_000);
    expect(steady.ws.readyState).toBe(steady.ws.OPEN);
    const n = quiet.previews.length;
    await waitFor('previews still reaching the quiet page', () => quiet.previews.length > n + 3, 5000);
    expect(o.clients()).toBe(2);
  });

  it('cuts a flooding page that does not read the close within a second instead of waiting 30 s for it', async () => {
    const o = await start(new HandSource(['cam1']), {}, { heartbeatMs: 60_000 });
    const deaf = await admitted(o);
    (deaf.ws as unknown as { _socket: { pause(): void } })._socket.pause(); // reads nothing from now on, so never answers the close
    for (let i = 0; i < 200; i++) deaf.ws.send(JSON.stringify({ v: 1, type: 'ping' }));
    await waitFor('the deaf page dropped', () => o.clients() === 0, 5000, 50);
  });

  it('says what was expected and what came in a malformed message\'s close reason', async () => {
    const o = await start(new HandSource(['cam1']));
    const cases: Array<[string, string | Buffer, number, string]> = [
      ['wrong version', JSON.stringify({ v: 2, type: 'ping' }), CloseCodes.malformed, 'expected {"v":1,"type":"ping"} but received v 2, type "ping"'],
      ['not JSON', '{nope', CloseCodes.malformed, 'expected {"v":1,"type":"ping"} but received 5 characters that are not JSON'],
      ['long unicode type', JSON.stringify({ v: 1, type: 'ü'.repeat(500) }), CloseCodes.malformed, 'expected {"v":1,"type":"ping"} but received v 1, type "?????????????????'],
      ['binary', Buffer.from([1, 2, 3]), CloseCodes.unsupported, 'expected text messages but received a binary one'],
    ];
    for (const [what, data, code, reason] of cases) {
      const bad = await admitted(o);
      bad.ws.send(data);
      expect({ what, ...(await bad.closed) }).toEqual({ what, code, reason });
    }
  });
});

const SECURITY = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' };

function expectSecurityHeaders(what: string, headers: Record<string, string | string[] | undefined>): void {
  expect({ what, ...Object.fromEntries(Object.keys(SECURITY).map((k) => [k, headers[k]])) }).toEqual({ what, ...SECURITY });
  expect(String(headers['content-security-policy']), what).toContain("frame-ancestors 'none'");
}

describe('security headers', () => {
  it('come with every answer: page, assets, API, metrics, healthz, 304, 400–431, 500 and refused upgrades', async () => {
    const { log, at } = captureLogger();
    const source = new HandSource(['cam1']);
    const o = await start(source, { token: TOKEN }, { httpLimits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } }, log);
    const routes: Array<[string, number, Record<string, string>?, string?]> = [
      [`/?token=${TOKEN}`, 200], ['/app.js', 200], ['/style.css', 200], ['/favicon.svg', 200],
      [`/api/alerts?token=${TOKEN}`, 200], [`/metrics?token=${TOKEN}`, 200], ['/healthz', 200],
      ['/', 401], ['/api/alerts', 401], ['/metrics', 401], ['/nope', 404], [`/api/alerts?limit=abc&token=${TOKEN}`, 400],
      ['/ws', 426], [`/?token=${TOKEN}`, 405, {}, 'POST'], ['/healthz', 200, {}, 'HEAD'],
    ];
    for (const [path, status, headers, method] of routes) {
      const res = await rawGet(o.url, path, headers, method);
      expect({ path, method, status: res.status }).toEqual({ path, method, status });
      expectSecurityHeaders(`${method ?? 'GET'} ${path}`, res.headers);
    }
    const js = await rawGet(o.url, '/app.js');
    const notModified = await rawGet(o.url, '/app.js', { 'If-None-Match': String(js.headers.etag) });
    expect(notModified.status).toBe(304);
    expectSecurityHeaders('304', notModified.headers);

    // The page's own policy: only what web/ uses, nothing inline, sockets to itself only.
    const csp = String((await rawGet(o.url, `/?token=${TOKEN}`)).headers['content-security-policy']);
    expect(csp).toBe(`default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws://127.0.0.1:${o.port} wss://127.0.0.1:${o.port}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
    // A Host that could smuggle a directive into the policy is not quoted in it.
    const smuggled = String((await rawGet(o.url, `/?token=${TOKEN}`, { Host: 'x; script-src *' })).headers['content-security-policy']);
    expect(smuggled).toContain("connect-src 'self'; ");
    expect(smuggled).not.toContain('script-src *');

    // Refused upgrades answer before any handshake, with the same headers.
    for (const [path, headers, status] of [['/ws', {}, 401], [`/ws?token=${TOKEN}`, { Origin: 'https://evil.example' }, 403], ['/elsewhere', {}, 404]] as const) {
      const res = await upgradeRequest(o.url, path, headers);
      expect({ path, status: res.status }).toEqual({ path, status });
      expectSecurityHeaders(`upgrade ${path}`, res.headers);
    }

    // Node's own answers: an unparsable request, oversized headers, headers that never finish.
    for (const [bytes, status] of [['NONSENSE\r\n\r\n', 400], [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431], ['GET / HTTP/1.1\r\nHost: x\r\n', 408]] as const) {
      const answer = await rawExchange(o.url, bytes);
      expect(answer.slice(0, 12)).toBe(`HTTP/1.1 ${status}`);
      for (const [k, v] of Object.entries(SECURITY)) expect(answer.toLowerCase()).toContain(`${k}: ${v.toLowerCase()}`);
    }

    // A 500: the source fails under the request. Its log line names the URL without the token.
    source.recentAlerts = () => {
      throw new Error('database is gone');
    };
    const failed = await rawGet(o.url, `/api/alerts?token=${TOKEN}`);
    expect(failed.status).toBe(500);
    expectSecurityHeaders('500', failed.headers);
    const line = at('error').find((l) => l.msg === 'overlay request failed');
    expect(line?.url).toBe('/api/alerts?token=[redacted]');
    expect(JSON.stringify(at('error'))).not.toContain(TOKEN);
  });

  it('the page runs in Chromium under its policy with no violation, previews and alerts shown', async () => {
    const source = new HandSource(['cam1']);
    const o = await start(source, { token: TOKEN, preview_width: 160 });
    pumpFrames(source, 'cam1', 10);
    browser ??= await launchChromium();
    const tab = await browser.newPage({ viewport: { width: 1024, height: 700 } });
    try {
      const logged: string[] = [];
      tab.on('console', (m) => logged.push(`${m.type()}: ${m.text()}`));
      await tab.addInitScript(() => {
        const g = globalThis as unknown as BrowserGlobals;
        g.__violations = [];
        g.document.addEventListener('securitypolicyviolation', (e) => g.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      const violations = () => tab.evaluate(() => (globalThis as unknown as BrowserGlobals).__violations);
      await tab.goto(`${o.url}?token=${TOKEN}`);
      await waitFor('the preview drawn on the canvas', async () => (await litPixels(tab, 'cam1')) > 100, 15_000);
      source.pushAlert(makeEvent({ camera: 'cam1', className: 'red', box: { x: 40, y: 30, w: 60, h: 40 }, frame: { width: 160, height: 120, ts: Date.now() } }));
      await waitFor('the alert with its thumbnail in the list', () => tab.evaluate(() => {
        const img = (globalThis as unknown as BrowserGlobals).document.querySelector('#alerts li img.thumb');
        return img !== null && img.src.startsWith('data:image/jpeg') && img.complete && img.naturalWidth > 0;
      }), 10_000);
      expect(await violations()).toEqual([]);
      expect(logged.filter((c) => /Content Security Policy|Refused to/i.test(c))).toEqual([]);

      // The listener is live: something the policy forbids is reported.
      await tab.evaluate(() => {
        const g = globalThis as unknown as BrowserGlobals;
        const img = new g.Image();
        img.src = 'http://127.0.0.1:9/probe.png';
        g.document.body.append(img);
      });
      await waitFor('the probe reported as a violation', async () => (await violations()).some((v) => v.startsWith('img-src')), 5000);
    } finally {
      await tab.close();
    }
  });
});
