import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import type { AlertView } from '../../src/overlay/source.js';
import type { Box } from '../../src/types.js';
import { ROOT } from '../helpers/cli.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp.js';
import { waitFor } from '../helpers/wait.js';

const MODEL = join(ROOT, 'models/linesight-defects-v1.onnx');
const CLIP = join(ROOT, 'models/demo/conveyor.mp4');
const TRUTH = join(ROOT, 'models/demo/conveyor.truth.json');

interface TruthPart {
  part: number;
  className: string;
  from_s: number;
  to_s: number;
  track: Array<{ t: number } & Box>;
}

function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.w * a.h + b.w * b.h - w * h);
}

/**
 * Matches events to ground-truth parts: same class, the event's frame inside the
 * part's visible interval and its box overlapping the part's box at that moment.
 * Counted per part: recall = parts found ÷ defective parts, precision = events that
 * found a new part ÷ all events (a second event for the same part counts as false).
 */
function score(alerts: AlertView[], parts: TruthPart[], start: number) {
  const found = new Set<number>();
  let good = 0;
  for (const a of alerts) {
    const t = (a.frame.ts - start) / 1000;
    const match = parts.find((p) => {
      if (found.has(p.part) || p.className !== a.className) return false;
      const near = p.track.reduce((best, s) => (Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best), p.track[0]);
      return Math.abs(near.t - t) < 0.5 && iou(near, a.box) > 0.1;
    });
    if (match) {
      found.add(match.part);
      good++;
    }
  }
  return { recall: found.size / parts.length, precision: alerts.length ? good / alerts.length : 0, found: found.size, events: alerts.length, parts: parts.length };
}

let line: Line | undefined;
let server: RtspServer | undefined;
afterEach(async () => {
  await line?.stop();
  line = undefined;
  await server?.stop();
  server = undefined;
  await expectNoStrays();
});
afterAll(() => killStrays());

const ready = existsSync(MODEL) && existsSync(CLIP) && existsSync(TRUTH);

describe.runIf(ready)('the bundled defect model on the bundled demo clip (per part, against ground truth)', () => {
  const parts = ready ? (JSON.parse(readFileSync(TRUTH, 'utf8')) as { parts?: TruthPart[] } | TruthPart[]) : [];
  const truth: TruthPart[] = Array.isArray(parts) ? parts : parts.parts ?? [];

  async function run(url: string, realtime: boolean) {
    const { config, problems } = validateConfig({
      cameras: [{ id: 'demo', url, fps: 5, loop: false, realtime }],
      model: { path: MODEL },
      store: { path: join(mkdtempSync(join(tmpdir(), 'linesight-demo-')), 'line.db') },
      mqtt: { embedded_port: 0 },
      overlay: { host: '127.0.0.1', port: 0 },
    });
    expect(problems).toEqual([]);
    const alerts: AlertView[] = [];
    let start = 0;
    line = await startLine(config!, silentLogger(), { overlay: false });
    line.onInspected((r) => {
      if (start === 0) start = r.frame.captureTs - (r.frame.seq - 1) * 200; // first frame = t 0 of the clip
    });
    line.onAlert((a) => alerts.push(a));
    return { alerts, start: () => start };
  }

  it('finds ≥ 90 % of the defective parts with ≥ 90 % precision from a file camera', async () => {
    const { alerts, start } = await run(CLIP, true);
    await waitFor('the clip to end', () => line!.cameras()[0].state === 'stopped', 120_000, 500);
    const s = score(alerts, truth, start());
    console.info(`demo clip, file camera: ${JSON.stringify(s)}`);
    expect(s.recall).toBeGreaterThanOrEqual(0.9);
    expect(s.precision).toBeGreaterThanOrEqual(0.9);
  }, 150_000);

  it('does the same from an RTSP camera', async () => {
    server = await startRtspServer({ clip: CLIP, loop: false });
    const { alerts, start } = await run(server.url, true);
    const duration = Math.max(...truth.map((p) => p.to_s));
    await waitFor('the clip to have played', () => start() > 0 && Date.now() - start() > (duration + 2) * 1000, 120_000, 500);
    const s = score(alerts, truth, start());
    console.info(`demo clip, RTSP camera: ${JSON.stringify(s)}`);
    expect(s.recall).toBeGreaterThanOrEqual(0.9);
    expect(s.precision).toBeGreaterThanOrEqual(0.9);
  }, 150_000);
});
