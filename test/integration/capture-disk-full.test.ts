/*
 * Pictures on a disk that really fills: the database and the pictures folder
 * live on a 16 MiB tmpfs that the test fills until the kernel answers ENOSPC.
 * Mounting needs root (CI runs these as root); elsewhere the test is skipped.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { makeClip } from '../helpers/clips.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fastTuning } from '../helpers/mqtt-config.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { subscribe, type Subscriber } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = join(import.meta.dirname, '../..');
const MODEL = join(ROOT, 'test/fixtures/models/squares-v8.onnx');
const IS_ROOT = process.getuid?.() === 0;
if (!IS_ROOT) console.warn('capture disk-full test skipped: mounting a tmpfs needs root; CI runs it as root');

let mnt = '';
let line: Line | undefined;
let broker: Mosquitto | undefined;
let sub: Subscriber | undefined;

afterEach(async () => {
  if (mnt) rmSync(join(mnt, 'filler'), { force: true }); // a failed test leaves the disk full: the line's last statistics need room
  await line?.stop();
  line = undefined;
  await sub?.close();
  await broker?.dispose();
  await expectNoStrays();
});
afterAll(() => killStrays());

/** Writes zeros until ENOSPC, in ever smaller pieces. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const zeros = Buffer.alloc(size);
      for (;;) {
        try {
          writeSync(fd, zeros);
        } catch (err) {
          if ((err as { code?: string }).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

function metric(text: string, name: string, labels = ''): number {
  const found = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return found ? Number(found.split(' ')[1]) : 0;
}

describe.skipIf(!IS_ROOT)('pictures on a full disk (real tmpfs)', () => {
  beforeAll(() => {
    mnt = mkdtempSync(join(tmpdir(), 'linesight-pictures-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    if (!mnt) return;
    try {
      execFileSync('umount', [mnt]);
    } catch {
      execFileSync('umount', ['-l', mnt]);
    }
    rmSync(mnt, { recursive: true, force: true });
  });

  it('alerts keep reaching the broker while pictures are skipped and counted; pictures come back with the space', async () => {
    broker = await startMosquitto();
    sub = await subscribe(broker.url, 'linesight/#');
    const clip = await makeClip({ width: 640, height: 480, fps: 10, seconds: 2, squares: [{ color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.2, to: 0.9 }] });
    const { config, problems } = validateConfig({
      cameras: [{ id: 'cam1', url: clip, fps: 10 }],
      model: { path: MODEL, confidence: 0.5 },
      store: { path: join(mnt, 'line', 'line.db'), min_free_mb: 0 },
      mqtt: { url: broker.url, protocol_version: 5 },
      overlay: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
    });
    expect(problems).toEqual([]);
    line = await startLine(config!, silentLogger(), { publisherTuning: fastTuning });
    const metrics = async () => (await fetch(new URL('/metrics', line!.overlay!.url))).text();
    const kept = async () => metric(await metrics(), 'linesight_pictures_kept_total', '{reason="alert"}');
    const alerts = () => sub!.messages.filter((m) => m.topic.endsWith('/alert')).length;

    await waitFor('an alert picture kept', async () => (await kept()) >= 1, 30_000);
    const filler = join(mnt, 'filler');
    fill(filler);
    const keptAtFault = await kept();
    const alertsAtFault = alerts();
    await waitFor('3 alerts at the broker during the fault', () => alerts() >= alertsAtFault + 3, 30_000);
    const during = await metrics();
    // Alerts the store could not commit have no row for a picture (unstored_alert); others find the disk full.
    const lost = ['unstored_alert', 'low_disk', 'write_failed', 'record_failed'].reduce((n, r) => n + metric(during, 'linesight_pictures_dropped_total', `{reason="${r}"}`), 0);
    expect(lost).toBeGreaterThanOrEqual(1);
    expect(metric(during, 'linesight_pictures_kept_total', '{reason="alert"}')).toBeLessThanOrEqual(keptAtFault + 1); // one may have been written just before

    rmSync(filler);
    await waitFor('alert pictures kept again', async () => (await kept()) >= keptAtFault + 2, 30_000);
  });
});
