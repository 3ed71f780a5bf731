/**
 * One broker fault, end to end: a real mosquitto, a TCP proxy in front of it
 * that injects the fault, the publisher child (real Store + Publisher)
 * connected through the proxy, and a subscriber connected straight to
 * mosquitto with a persistent QoS 1 session, so it sees exactly what the
 * broker accepted. Alerts are recorded at a steady rate from before the fault
 * until it ends; then the outbox must drain.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe, type Received, type Subscriber } from '../helpers/subscriber.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-faults.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { payloadOf, readLog, spawnChild, type Child, type LogLine } from './children.js';
import { writeResult, type ChaosResult, type Sample } from './results.js';

export interface BrokerFault {
  name: string;
  fault: string;
  injection: string;
  /** How long the fault lasts, ms. */
  durationMs: number;
  /** One alert every this many ms. */
  intervalMs: number;
  begin(proxy: TcpProxy): void;
  end(proxy: TcpProxy): void;
  /** After the drain: wait for whatever the fault's own end looks like (e.g. a log line), given the log so far. */
  settled?(log: () => LogLine[]): Promise<unknown>;
}

export interface Accepted {
  id: string;
  camera: string;
  seq: number;
}

export interface BrokerOutcome {
  result: ChaosResult;
  accepted: Accepted[];
  messages: Received[];
  /** First arrival of each id, in arrival order. */
  first: Received[];
  log: LogLine[];
  proxy: ReturnType<TcpProxy['stats']>;
  drained: { recoveryMs: number; depthAtStop: number; counters: { published: number; acked: number; replayed: number } };
  exitCode: number | null;
}

interface Parts {
  dir: string;
  broker?: Mosquitto;
  proxy?: TcpProxy;
  sub?: Subscriber;
  child?: Child;
}

async function dispose(parts: Parts): Promise<void> {
  if (parts.child) await parts.child.kill();
  await parts.sub?.close();
  await parts.proxy?.close();
  await parts.broker?.dispose();
  rmSync(parts.dir, { recursive: true, force: true });
}

function acceptedBy(child: Child): Accepted[] {
  return child.lines.filter((l) => l.startsWith('REC ')).map((l) => {
    const [, id, camera, seq] = l.split(' ');
    return { id, camera, seq: Number(seq) };
  });
}

function firstArrivals(messages: Received[]): Received[] {
  const seen = new Set<unknown>();
  return messages.filter((m) => !seen.has(m.body.id) && seen.add(m.body.id));
}

/** Runs `fault` and returns what happened; the caller asserts. Writes the figures with `writeResult`. */
export async function runBrokerFault(fault: BrokerFault, scale: string): Promise<BrokerOutcome> {
  const parts: Parts = { dir: mkdtempSync(join(tmpdir(), `linesight-chaos-${fault.name}-`)) };
  try {
    return await run(fault, scale, parts);
  } finally {
    await dispose(parts);
  }
}

async function run(fault: BrokerFault, scale: string, parts: Parts): Promise<BrokerOutcome> {
  const broker = (parts.broker = await startMosquitto());
  const sub = (parts.sub = await subscribe(broker.url, 'linesight/plant/line1/+/alert', { sessionId: `chaos-sub-${fault.name}` }));
  const proxy = (parts.proxy = await startTcpProxy(broker.port));
  const logFile = join(parts.dir, 'publisher.log');
  const child = (parts.child = spawnChild('test/chaos/publisher-child.ts', {
    CHAOS_DB: join(parts.dir, 'linesight.db'), CHAOS_URL: `mqtt://127.0.0.1:${proxy.port}`, CHAOS_LOG: logFile,
    CHAOS_CLIENT_ID: `chaos-${fault.name}`, CHAOS_INTERVAL_MS: String(fault.intervalMs),
  }, { exposeGc: true }));
  await child.line('READY');
  // Warm up (JIT, prepared statements, the first connection) before the baseline sample.
  await sub.waitFor((m) => m.length >= 20, 20_000);
  child.send('baseline');
  const start = payloadOf<Sample>(await child.line('BASE'));

  const began = performance.now();
  fault.begin(proxy);
  await sleep(fault.durationMs); // the fault's length is the experiment, not a wait for a condition
  fault.end(proxy);
  const durationMs = Math.round(performance.now() - began);
  child.send('stop');
  const drained = payloadOf<BrokerOutcome['drained']>(await child.line('DRAINED', 120_000));
  await fault.settled?.(() => readLog(logFile)).catch(() => undefined); // the test's log assertions say what was missing

  const accepted = acceptedBy(child);
  const ids = new Set(accepted.map((a) => a.id));
  const arrived = () => new Set(sub.messages.map((m) => m.body.id));
  await waitFor('every accepted alert at the subscriber', () => [...ids].every((id) => arrived().has(id)), 20_000, 100)
    .catch(() => undefined); // the test names what is missing
  await sleep(300); // a duplicate still on its way would arrive now
  child.send('end');
  const end = payloadOf<Sample>(await child.line('END'));
  const exitCode = await child.exited;
  parts.child = undefined;

  const messages = [...sub.messages];
  const first = firstArrivals(messages).filter((m) => ids.has(m.body.id as string));
  const delivered = new Set(first.map((m) => m.body.id));
  const lost = accepted.filter((a) => !delivered.has(a.id)).length;
  const result: ChaosResult = {
    name: fault.name, scale, fault: fault.fault, injection: fault.injection, durationMs,
    offered: accepted.length, delivered: first.length, lost, duplicated: messages.length - firstArrivals(messages).length,
    recoveryMs: drained.recoveryMs, memory: { start, end },
    notes: `proxy accepted ${proxy.stats().accepted} connections, dropped ${proxy.stats().drops}; outbox depth at fault end ${drained.depthAtStop}`,
  };
  writeResult(result);
  return { result, accepted, messages, first, log: readLog(logFile), proxy: proxy.stats(), drained, exitCode };
}
