/**
 * A broker that answers seconds late: the proxy holds everything mosquitto
 * sends (CONNACK, PUBACK, PINGRESP) for 2.5 s, for a minute (`npm run chaos`)
 * or 10 s (the normal suite), while alerts are recorded at 10 a second — more
 * than a window of 16 in flight per 2.5 s can carry, so the outbox grows and
 * must drain afterwards. A slow broker is not a dead one: no reconnect, no
 * re-send while connected (MQTT 5 §4.4 allows one only on a new connection),
 * no warning.
 */
import { describe, expect, it } from 'vitest';
import { runBrokerFault, type BrokerFault } from './broker-scenario.js';
import { chaosSizes } from './scale.js';

const sizes = chaosSizes();
const DELAY_MS = 2500;

const slowAcks: BrokerFault = {
  name: 'slow-puback',
  fault: 'Broker answers late',
  injection: `every broker → client byte (PUBACK, PINGRESP) held ${DELAY_MS / 1000} s`,
  durationMs: sizes.slowAckMs,
  intervalMs: 100,
  begin: (proxy) => proxy.delay(DELAY_MS, 'toClient'),
  end: (proxy) => proxy.delay(0, 'toClient'),
};

describe('chaos: a broker that delays its PUBACKs', () => {
  it('loses nothing, re-sends nothing, drains the backlog and stays quiet', async () => {
    const out = await runBrokerFault(slowAcks, sizes.scale);
    const { result, log } = out;
    console.info(`slow PUBACKs: ${JSON.stringify(result)}`);

    expect(out.exitCode).toBe(0);
    expect(result.offered).toBeGreaterThan(sizes.slowAckMs / 100 / 2);
    // The delay was felt: alerts piled up behind the in-flight window.
    expect(out.drained.depthAtStop).toBeGreaterThan(16);
    expect(result.lost).toBe(0);
    expect(result.delivered).toBe(result.offered);
    // One connection throughout, so not a single PUBLISH went out twice.
    expect(out.proxy.accepted).toBe(1);
    expect(out.proxy.drops).toBe(0);
    expect(result.duplicated).toBe(0);
    expect(out.drained.counters).toMatchObject({ published: out.drained.counters.acked, replayed: 0 });

    const { start, end } = result.memory!;
    expect(end.fds, 'open file descriptors at the end vs the start').toBeLessThanOrEqual(start.fds + 1);
    expect(end.heapUsed - start.heapUsed, 'heap growth after a full GC, bytes').toBeLessThan(4 * 1048576);

    // No timeout storm: nothing above info, and the only info from the publisher is the first connect.
    expect(log.filter((l) => l.level >= 40)).toEqual([]);
    expect(log.filter((l) => l.level >= 30 && l.stage === 'publish').map((l) => l.msg)).toEqual([expect.stringMatching(/^connected to the MQTT broker/)]);
  }, sizes.slowAckMs + 90_000);
});
