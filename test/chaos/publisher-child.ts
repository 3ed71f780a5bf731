/**
 * Child process for the broker chaos tests: the real Store and Publisher,
 * recording alerts at a steady rate, with its heap, RSS and open file
 * descriptors sampled on request (after a forced GC: run it with --expose-gc).
 *
 * stdout, one line each: `READY <pid>`, `REC <id> <camera> <seq>` after each
 * commit returned, `BASE <sample>`, `DRAINED <json>`, `END <sample>`.
 * stdin commands: `baseline` (sample now), `stop` (stop recording and report
 * when the outbox is empty, timed from this command), `end` (sample, stop the
 * publisher, exit 0).
 *
 * Env: CHAOS_DB, CHAOS_URL, CHAOS_LOG (the JSON log file, level debug),
 * CHAOS_CLIENT_ID, CHAOS_INTERVAL_MS (default 50).
 */
import { readdirSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { destination, pino } from 'pino';
import { startPublisher } from '../../src/publish/index.js';
import { openStore } from '../../src/store/index.js';
import { makeEvent } from '../helpers/events.js';
import { fastTuning, mqttConfig } from '../helpers/mqtt-config.js';
import type { Sample } from './results.js';

const say = (line: string) => writeSync(1, `${line}\n`);
const env = process.env;
const interval = Number(env.CHAOS_INTERVAL_MS ?? 50);
const model = { name: 'chaos', version: '1' };
const cameras = ['cam1', 'cam2', 'cam3'];
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('expected to run with --expose-gc (NODE_OPTIONS=--expose-gc) so memory is measured after a full GC');

const log = pino({ level: 'debug' }, destination({ dest: env.CHAOS_LOG as string, sync: true }));
const store = openStore(env.CHAOS_DB as string, { outboxMaxRows: 1_000_000, outboxFullPolicy: 'drop_oldest' }, log);
const publisher = await startPublisher({
  mqtt: mqttConfig({ url: env.CHAOS_URL as string, client_id: env.CHAOS_CLIENT_ID ?? 'chaos-publisher' }),
  site: 'plant', line: 'line1', model, version: '0.1.0', cameras: () => cameras, outbox: store, log,
  // The test backoff (100 → 800 ms), but the production CONNACK timeout: a slow broker is not a dead one.
  tuning: { ...fastTuning, connectTimeoutMs: 10_000 },
});

function sample(): Sample {
  collect?.();
  collect?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss, fds: readdirSync('/proc/self/fd').length };
}

let i = 0;
const recorder = setInterval(() => {
  const event = makeEvent({ camera: cameras[i++ % cameras.length] });
  const { seq } = store.recordEvent(event, model);
  say(`REC ${event.id} ${event.camera} ${seq}`);
  publisher.kick();
}, interval);

function drained(): void {
  clearInterval(recorder);
  const since = performance.now();
  let maxDepth = 0;
  const poll = setInterval(() => {
    const depth = store.depth();
    maxDepth = Math.max(maxDepth, depth);
    if (depth !== 0) return;
    clearInterval(poll);
    say(`DRAINED ${JSON.stringify({ recoveryMs: Math.round(performance.now() - since), depthAtStop: maxDepth, counters: publisher.counters })}`);
  }, 20);
}

async function end(): Promise<void> {
  say(`END ${JSON.stringify(sample())}`);
  await publisher.stop();
  store.close();
  process.exit(0);
}

const commands: Record<string, () => void> = {
  baseline: () => say(`BASE ${JSON.stringify(sample())}`),
  stop: drained,
  end: () => void end(),
};
createInterface({ input: process.stdin }).on('line', (line) => commands[line.trim()]?.());

while (!publisher.connected) await new Promise((r) => setTimeout(r, 20));
say(`READY ${process.pid}`);
