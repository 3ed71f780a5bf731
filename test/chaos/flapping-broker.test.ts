/**
 * A flapping broker: every connection through the proxy is dropped (RST and FIN
 * in turn) about a second after it opens, for a minute (`npm run chaos`) or
 * 15 s (the normal suite), while alerts are recorded at 20 a second.
 * Nothing may be lost, memory and file descriptors must come back, and the
 * log must tell the story in one line per change of state, not one per attempt.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { runBrokerFault, type BrokerFault } from './broker-scenario.js';
import type { LogLine } from './children.js';
import { chaosSizes } from './scale.js';

const sizes = chaosSizes();
const LIFETIME_MS = 1000;
/** The publisher's default stable period: the summary comes this long after the last reconnect. */
const STABLE_MS = 10_000;

const flapping: BrokerFault = {
  name: 'flapping-broker',
  fault: 'Flapping broker',
  injection: `every connection dropped ${LIFETIME_MS / 1000} s after it opens (RST and FIN in turn)`,
  durationMs: sizes.flapMs,
  intervalMs: 50,
  begin: (proxy) => proxy.flap({ afterMs: LIFETIME_MS, how: 'alternate' }),
  end: (proxy) => proxy.flap(undefined),
  settled: (log) => waitFor('the "stable again" summary', () => log().some((l) => /stable again/.test(l.msg)), STABLE_MS + 15_000, 200),
};

/** What an operator reads about the publisher: info and above. */
const operatorLines = (log: LogLine[]) => log.filter((l) => l.level >= 30 && l.stage === 'publish');

describe('chaos: a flapping broker', () => {
  it('loses no alert, keeps memory and descriptors flat, and logs one line per change of state', async () => {
    const out = await runBrokerFault(flapping, sizes.scale);
    const { result, log } = out;
    const drops = out.proxy.drops;
    console.info(`flapping broker: ${JSON.stringify(result)}`);

    expect(out.exitCode).toBe(0);
    // The fault really happened: about one drop per second and connection, each followed by a reconnect.
    expect(drops).toBeGreaterThanOrEqual(sizes.flapMs / LIFETIME_MS / 2);
    expect(out.proxy.accepted).toBeGreaterThan(drops);
    expect(result.offered).toBeGreaterThan(sizes.flapMs / 50 / 2);

    // At least once: every accepted alert arrived, first arrivals in seq order per camera.
    expect(result.lost).toBe(0);
    expect(result.delivered).toBe(result.offered);
    const last = new Map<unknown, number>();
    for (const m of out.first) {
      expect(m.body.seq as number).toBeGreaterThan(last.get(m.body.camera) ?? 0);
      last.set(m.body.camera, m.body.seq as number);
    }
    // A duplicate needs a lost PUBACK, hence a drop: at most one window (16) per drop.
    expect(result.duplicated as number).toBeLessThanOrEqual(drops * 16);
    expect(out.drained.counters.acked).toBeGreaterThanOrEqual(result.offered);

    const { start, end } = result.memory!;
    expect(end.fds, 'open file descriptors at the end vs the start').toBeLessThanOrEqual(start.fds + 1);
    expect(end.heapUsed - start.heapUsed, 'heap growth after a full GC, bytes').toBeLessThan(4 * 1048576);

    // connected → lost → reachable again → flapping → stable again; every other attempt at debug.
    const lines = operatorLines(log);
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^connected to the MQTT broker/),
      expect.stringMatching(/^lost the connection to the MQTT broker/),
      expect.stringMatching(/^MQTT broker reachable again after/),
      expect.stringMatching(/^the MQTT connection is flapping/),
      expect.stringMatching(/^MQTT connection stable again/),
    ]);
    expect(lines.map((l) => l.level)).toEqual([30, 40, 30, 40, 30]);
    const summary = lines[4];
    expect(summary.reconnects as number).toBeGreaterThanOrEqual(drops - 1);
    expect(summary.flapping_s as number).toBeGreaterThan(sizes.flapMs / 1000 / 2);
    expect(log.filter((l) => l.level === 20 && /while flapping/.test(l.msg)).length).toBeGreaterThanOrEqual(drops - 2);
  }, sizes.flapMs + 120_000);
});
