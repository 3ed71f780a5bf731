import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { iou } from '../../src/events/geometry.js';
import type { AlertView } from '../../src/overlay/source.js';
import type { Box } from '../../src/types.js';
import { ROOT } from '../helpers/cli.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp.js';
import { waitFor } from '../helpers/wait.js';

const MODEL = join(ROOT, 'models/linesight-defects-v1.onnx');
/** The same detector quantized to INT8 (`npm run model:quantize`): it must find the same defects. */
const MODEL_INT8 = join(ROOT, 'models/linesight-defects-v1-int8.onnx');
const CLIP = join(ROOT, 'models/demo/conveyor.mp4');
const TRUTH = join(ROOT, 'models/demo/conveyor.truth.json');
/** The confidence floor config/default.yaml runs the demo with. */
const DEMO_CONFIDENCE = (parse(readFileSync(join(ROOT, 'config/default.yaml'), 'utf8')) as { model: { confidence: number } }).model.confidence;

/** One planted defect of the demo clip (`defects[]` of the ground truth; a part can carry several). */
interface TruthPart {
  /** Index in `defects[]`: what an event is matched to. */
  part: number;
  className: string;
  from_s: number;
  to_s: number;
  track: Array<{ t: number } & Box>;
}

/**
 * Matches events to ground-truth parts: same class, the event's frame inside the
 * part's visible interval and its box overlapping the part's box at that moment.
 * Counted per part: recall = parts found ÷ defective parts, precision = events that
 * found a new part ÷ all events (a second event for the same part counts as false).
 */
function score(alerts: AlertView[], parts: TruthPart[], clipTime: (captureTs: number) => number, framePeriod: number) {
  // An RTSP camera starts a little into the clip (the server plays while ffmpeg probes), and
  // a kept frame sits up to a source frame off the 1/5 s grid: take the clip-time offset within
  // ±3 s, in steps of one source frame, that explains the events best. A coarser step leaves a
  // part moving 330 px/s up to 30 px off its truth box, which a 40 px defect does not survive.
  let best = scoreAt(alerts, parts, clipTime, 0);
  const steps = Math.round(3 / framePeriod);
  for (let i = -steps; i <= steps; i++) {
    const s = scoreAt(alerts, parts, clipTime, i * framePeriod);
    if (s.found > best.found) best = s;
  }
  return best;
}

function scoreAt(alerts: AlertView[], parts: TruthPart[], clipTime: (captureTs: number) => number, offset: number) {
  const found = new Set<number>();
  let good = 0;
  for (const a of alerts) {
    const t = clipTime(a.frame.ts) + offset;
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
  return { recall: found.size / parts.length, precision: alerts.length ? good / alerts.length : 0, found: found.size, events: alerts.length, parts: parts.length, offset: Math.round(offset * 1000) / 1000 };
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

const ready = existsSync(MODEL) && existsSync(CLIP) && existsSync(TRUTH); // all three are committed; a missing one fails below

describe('the bundled defect model on the bundled demo clip (per part, against ground truth)', () => {
  const doc = ready ? (JSON.parse(readFileSync(TRUTH, 'utf8')) as { fps: number; defects: Array<Omit<TruthPart, 'part'>> }) : { fps: 15, defects: [] };
  const truth: TruthPart[] = doc.defects.map((d, i) => ({ ...d, part: i }));
  const framePeriod = 1 / doc.fps;

  it('has its model, clip and ground truth in the repository', () => {
    expect([existsSync(MODEL), existsSync(MODEL_INT8), existsSync(CLIP), existsSync(TRUTH)]).toEqual([true, true, true, true]);
    expect(truth.length).toBeGreaterThanOrEqual(15);
  });

  async function run(url: string, realtime: boolean, model = MODEL) {
    const { config, problems } = validateConfig({
      cameras: [{ id: 'demo', url, fps: 5, loop: false, realtime }],
      model: { path: model, confidence: DEMO_CONFIDENCE }, // as the demo config runs it
      store: { path: join(mkdtempSync(join(tmpdir(), 'linesight-demo-')), 'line.db') },
      mqtt: { embedded_port: 0 },
      overlay: { host: '127.0.0.1', port: 0 },
    });
    expect(problems).toEqual([]);
    const alerts: AlertView[] = [];
    // ffmpeg hands over at most 5 frames/s without duplicates (-r 5 -fps_mode vfr), so frame
    // number n of the camera shows the clip at (n - 1) / 5 s, however the frames were paced.
    const seqOf = new Map<number, number>();
    line = await startLine(config!, silentLogger(), { overlay: false });
    line.onInspected((r) => seqOf.set(r.frame.captureTs, r.frame.seq));
    line.onAlert((a) => alerts.push(a));
    return { alerts, clipTime: (ts: number) => ((seqOf.get(ts) ?? 1) - 1) / 5, frames: () => seqOf.size };
  }

  // The demo's target: recall and precision ≥ 0.9, counted per planted defect.
  for (const [precision, model] of [['FP32', MODEL], ['INT8', MODEL_INT8]]) it(`finds ≥ 90 % of the planted defects with ≥ 90 % precision from a file camera (${precision} model)`, async () => {
    const { alerts, clipTime } = await run(CLIP, false, model); // as fast as the model goes (paced playback: the RTSP case below)
    await waitFor('the clip to end', () => line!.cameras()[0].state === 'stopped', 120_000, 500);
    const s = score(alerts, truth, clipTime, framePeriod);
    console.info(`demo clip, file camera, ${precision} model: ${JSON.stringify(s)}`);
    expect(s.recall).toBeGreaterThanOrEqual(0.9);
    expect(s.precision).toBeGreaterThanOrEqual(0.9);
  }, 150_000);

  it('finds ≥ 90 % of them with ≥ 90 % precision from an RTSP camera too, the same ones as from the file', async () => {
    const file = await run(CLIP, false);
    await waitFor('the file to end', () => line!.cameras()[0].state === 'stopped', 120_000, 500);
    const fromFile = score(file.alerts, truth, file.clipTime, framePeriod);
    await line!.stop();
    line = undefined;
    server = await startRtspServer({ clip: CLIP, loop: false });
    const rtsp = await run(server.url, true);
    await waitFor('the clip to have played', () => rtsp.frames() >= 195, 120_000, 500);
    const fromRtsp = score(rtsp.alerts, truth, rtsp.clipTime, framePeriod);
    console.info(`demo clip: file ${JSON.stringify(fromFile)}, RTSP ${JSON.stringify(fromRtsp)}`);
    expect(fromRtsp.recall).toBeGreaterThanOrEqual(0.9);
    expect(fromRtsp.precision).toBeGreaterThanOrEqual(0.9);
    // Same frames in, same model: the transport must not change what is found (±2 defects for frame timing).
    expect(Math.abs(fromRtsp.found - fromFile.found)).toBeLessThanOrEqual(2);
  }, 200_000);
});
