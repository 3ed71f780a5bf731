import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { compareFromStore } from '../../src/models/compare-store.js';
import { openRegistry } from '../../src/models/registry.js';
import { ROOT } from '../helpers/cli.js';
import { makeClip } from '../helpers/clips.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { sleep, waitFor } from '../helpers/wait.js';

const MODELS = join(ROOT, 'test/fixtures/models');

let line: Line | undefined;
afterEach(async () => {
  await line?.stop();
  line = undefined;
  await expectNoStrays();
});
afterAll(() => killStrays());

describe('shadow run of a candidate model', () => {
  it('runs the candidate on the same frames without alerting and compares at the level of defects', async () => {
    const clip = await makeClip({
      width: 640, height: 480, fps: 10, seconds: 6, squares: [
        { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.5, to: 2.5 }, // both models
        { color: 'blue', x: 400, y: 100, w: 60, h: 60, from: 0.5, to: 2.5 }, // only the active one (fixture-2 never scores blue)
        { color: 'darkgreen', x: 250, y: 300, w: 60, h: 60, from: 3, to: 5 }, // only the candidate (green to fixture-2 only)
      ],
    });
    const db = join(mkdtempSync(join(tmpdir(), 'linesight-shadow-')), 'line.db');
    const { config, problems } = validateConfig({
      site: 's', line: 'l',
      cameras: ['cam1', 'cam2'].map((id) => ({ id, url: clip, fps: 5, loop: false })),
      model: { path: join(MODELS, 'squares-v8.onnx'), confidence: 0.5, candidate: join(MODELS, 'squares-v8-fixture2.onnx'), shadow: { share: 1 } },
      store: { path: db },
      mqtt: { url: 'mqtt://127.0.0.1:9' }, // alerts stay in the outbox: this test reads SQLite
      overlay: { host: '127.0.0.1', port: 0 },
    });
    expect(problems).toEqual([]);
    line = await startLine(config!, silentLogger(), { overlay: false });
    const alerts: Array<{ id: string; camera: string; className: string }> = [];
    line.onAlert((a) => alerts.push({ id: a.id, camera: a.camera, className: a.className }));
    await waitFor('the shadow run', () => line!.overlaySource().models?.list().candidate, 10_000);
    await waitFor('the clips to end', () => line!.cameras().every((c) => c.state === 'stopped'), 30_000);
    await sleep(500);
    // The active model alerted red and blue on each camera; the candidate's green never became an alert.
    expect(alerts.map((a) => `${a.camera}/${a.className}`).sort()).toEqual(['cam1/blue', 'cam1/red', 'cam2/blue', 'cam2/red']);
    const source = line.overlaySource();
    const idOf = (camera: string, cls: string) => alerts.find((a) => a.camera === camera && a.className === cls)!.id;
    source.verdict!(idOf('cam1', 'red'), { verdict: 'confirmed', operator: 'station 1' });
    source.verdict!(idOf('cam1', 'blue'), { verdict: 'false_alarm', operator: 'station 1' });
    const live = source.models!.list() as { candidate: { version: string; cameras: Array<{ frames: number; skipped: number }> } };
    expect(live.candidate.version).toBe('fixture-2');
    await line.stop(); // the run's counts are written
    line = undefined;

    const { registry, close } = openRegistry(db, silentLogger());
    try {
      const [c, ...more] = compareFromStore(registry, 0);
      expect(more).toEqual([]);
      expect(c.candidate_model).toMatchObject({ version: 'fixture-2' });
      expect(c.active_model).toMatchObject({ version: 'fixture-1' });
      expect(c.rows).toEqual([
        { camera: 'cam1', className: 'blue', both: 0, onlyActive: 1, onlyCandidate: 0 },
        { camera: 'cam1', className: 'green', both: 0, onlyActive: 0, onlyCandidate: 1 },
        { camera: 'cam1', className: 'red', both: 1, onlyActive: 0, onlyCandidate: 0 },
        { camera: 'cam2', className: 'blue', both: 0, onlyActive: 1, onlyCandidate: 0 },
        { camera: 'cam2', className: 'green', both: 0, onlyActive: 0, onlyCandidate: 1 },
        { camera: 'cam2', className: 'red', both: 1, onlyActive: 0, onlyCandidate: 0 },
      ]);
      // Active: one confirmed, one false alarm. Candidate: found the confirmed one, not the false alarm.
      expect(c.active).toEqual({ tp: 1, fp: 1, fn: 0, precision: 0.5, recall: 1 });
      expect(c.candidate).toEqual({ tp: 1, fp: 0, fn: 0, precision: 1, recall: 1 });
      expect(c.candidateUnjudged).toBe(3); // cam2's red, and the two greens
      expect(c.frames).toBeGreaterThan(0);
      expect(registry.role('candidate')).toBe(c.candidate_model.hash);
    } finally {
      close();
    }
  }, 60_000);

  it('judges the candidate under the active recipe\'s regions and thresholds, as the active model is', async () => {
    const clip = await makeClip({
      width: 640, height: 480, fps: 10, seconds: 4, squares: [
        { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.5, to: 2.5 }, // both models, inside the recipe's region
        { color: 'darkgreen', x: 450, y: 300, w: 60, h: 60, from: 0.5, to: 2.5 }, // the candidate's only, outside it
      ],
    });
    const db = join(mkdtempSync(join(tmpdir(), 'linesight-shadow-')), 'line.db');
    const { config, problems } = validateConfig({
      site: 's', line: 'l',
      cameras: [{ id: 'cam1', url: clip, fps: 5, loop: false }],
      model: { path: join(MODELS, 'squares-v8.onnx'), confidence: 0.5, candidate: join(MODELS, 'squares-v8-fixture2.onnx'), shadow: { share: 1 } },
      recipes: { left: { cameras: { cam1: { roi: [[0, 0], [320, 0], [320, 480], [0, 480]] } } } },
      recipe: { default: 'left' },
      store: { path: db },
      mqtt: { url: 'mqtt://127.0.0.1:9' },
    });
    expect(problems).toEqual([]);
    line = await startLine(config!, silentLogger(), { overlay: false });
    await waitFor('the shadow run', () => line!.overlaySource().models?.list().candidate, 10_000);
    await waitFor('the clip to end', () => line!.cameras().every((c) => c.state === 'stopped'), 30_000);
    await sleep(500);
    await line.stop();
    line = undefined;
    const { registry, close } = openRegistry(db, silentLogger());
    try {
      const [c] = compareFromStore(registry, 0);
      expect(c.rows).toEqual([{ camera: 'cam1', className: 'red', both: 1, onlyActive: 0, onlyCandidate: 0 }]);
    } finally {
      close();
    }
  }, 60_000);
});
