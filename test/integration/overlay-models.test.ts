import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startLine, type Line } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { ROOT } from '../helpers/cli.js';
import { makeClip } from '../helpers/clips.js';
import { launchChromium } from '../helpers/overlay-browser.js';
import { expectNoStrays, killStrays } from '../helpers/procs.js';
import { sleep, waitFor } from '../helpers/wait.js';

/*
 * The operator page's "Models" panel in Chromium on a real line with a
 * candidate in a shadow run: it shows the running candidate, and after the
 * run, the same numbers GET /api/models/compare answers.
 */

const MODELS = join(ROOT, 'test/fixtures/models');
const TOKEN = 'lead-view-3';

interface Score { tp: number; fp: number; fn: number; precision: number | null; recall: number | null }
interface Compared {
  comparisons: Array<{
    candidate_model: { hash: string };
    rows: Array<{ camera: string; className: string; both: number; onlyActive: number; onlyCandidate: number }>;
    active: Score;
    candidate: Score;
    candidateUnjudged: number;
  }>;
}

let line: Line | undefined;
let browser: Browser | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await line?.stop();
  line = undefined;
  await expectNoStrays();
});
afterAll(() => killStrays());

const percent = (r: number | null) => (r === null ? '—' : `${Math.round(r * 100)}%`);

describe('Models panel on the operator page', () => {
  it('shows the candidate while it runs and the comparison the API answers', async () => {
    const clip = await makeClip({
      width: 640, height: 480, fps: 10, seconds: 5, squares: [
        { color: 'red', x: 100, y: 100, w: 60, h: 60, from: 0.5, to: 2.5 }, // both models
        { color: 'blue', x: 400, y: 100, w: 60, h: 60, from: 0.5, to: 2.5 }, // only the active one
        { color: 'darkgreen', x: 250, y: 300, w: 60, h: 60, from: 3, to: 4.5 }, // only the candidate
      ],
    });
    const { config, problems } = validateConfig({
      site: 's', line: 'l',
      cameras: [{ id: 'cam1', url: clip, fps: 5, loop: false }],
      model: { path: join(MODELS, 'squares-v8.onnx'), confidence: 0.5, candidate: join(MODELS, 'squares-v8-fixture2.onnx'), shadow: { share: 0.5 } },
      store: { path: join(mkdtempSync(join(tmpdir(), 'linesight-models-page-')), 'line.db') },
      mqtt: { url: 'mqtt://127.0.0.1:9' }, // alerts stay in the outbox
      overlay: { host: '127.0.0.1', port: 0, token: TOKEN },
      log: { level: 'silent' },
    });
    expect(problems).toEqual([]);
    line = await startLine(config!, silentLogger());
    const alerts: Array<{ id: string; className: string }> = [];
    line.onAlert((a) => alerts.push({ id: a.id, className: a.className }));
    const source = line.overlaySource();
    await waitFor('the shadow run', () => source.models?.list().candidate, 10_000);

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${line.overlay!.url}?token=${TOKEN}`);
    const panel = page.locator('#models-panel');
    const summary = panel.locator('summary');
    await summary.waitFor({ state: 'visible', timeout: 10_000 });
    await summary.click();
    await expect.poll(() => panel.locator('.models-candidate').textContent()).toBe('Candidate: squares-v8-fixture2 fixture-2 on 50% of frames');
    expect(await panel.locator('.models-active').textContent()).toBe('Active: squares-v8 fixture-1');

    await waitFor('the clip to end', () => line!.cameras().every((c) => c.state === 'stopped'), 30_000);
    await sleep(500);
    const idOf = (cls: string) => alerts.find((a) => a.className === cls)!.id;
    source.verdict!(idOf('red'), { verdict: 'confirmed', operator: 'lead' });
    source.verdict!(idOf('blue'), { verdict: 'false_alarm', operator: 'lead' });
    await source.models!.shadow(null, 'test'); // the run's counts are written: the comparison is complete

    const res = await fetch(`${line.overlay!.url}api/models/compare`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const { comparisons: [c, ...more] } = (await res.json()) as Compared;
    expect(more).toEqual([]);
    expect(c.rows.length).toBeGreaterThan(0);

    // Closing and opening the panel fetches afresh (otherwise it would wait its 30 s).
    await summary.click();
    await summary.click();
    await expect.poll(() => panel.locator('.models-candidate').textContent()).toBe('No shadow run now');
    const section = panel.locator(`section.comparison[data-candidate="${c.candidate_model.hash}"]`);
    expect(await section.locator('h3').textContent()).toMatch(/^squares-v8-fixture2 fixture-2 vs squares-v8 fixture-1, since /);
    const shown = await section.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => {
      const cell = (k: string) => Number(tr.querySelector(`[data-k="${k}"]`)?.textContent);
      return { camera: tr.getAttribute('data-camera'), className: tr.getAttribute('data-class'), both: cell('both'), onlyActive: cell('onlyActive'), onlyCandidate: cell('onlyCandidate') };
    }));
    expect(shown).toEqual(c.rows);
    for (const [model, score] of [['active', c.active], ['candidate', c.candidate]] as const) {
      const line = section.locator(`[data-model="${model}"]`);
      const value = (k: string) => line.locator(`[data-k="${k}"]`).textContent();
      expect(await value('precision')).toBe(percent(score.precision));
      expect(await value('recall')).toBe(percent(score.recall));
      expect(Number(await value('tp'))).toBe(score.tp);
      expect(Number(await value('fp'))).toBe(score.fp);
      expect(Number(await value('fn'))).toBe(score.fn);
    }
    expect(Number(await section.locator('[data-model="candidate"] [data-k="unjudged"]').textContent())).toBe(c.candidateUnjudged);
    // The verdicts above reached the table: the active model was judged once right and once wrong.
    expect(c.active).toMatchObject({ tp: 1, fp: 1 });
  }, 60_000);

  it('stays hidden on a line with neither a shadow run nor a comparison', async () => {
    const clip = await makeClip({ width: 320, height: 240, fps: 10, seconds: 1, squares: [] });
    const { config, problems } = validateConfig({
      site: 's', line: 'l',
      cameras: [{ id: 'cam1', url: clip, fps: 5, loop: false }],
      model: { path: join(MODELS, 'squares-v8.onnx'), confidence: 0.5 },
      store: { path: join(mkdtempSync(join(tmpdir(), 'linesight-models-page-')), 'line.db') },
      mqtt: { url: 'mqtt://127.0.0.1:9' },
      overlay: { host: '127.0.0.1', port: 0, token: TOKEN },
      log: { level: 'silent' },
    });
    expect(problems).toEqual([]);
    line = await startLine(config!, silentLogger());
    browser = await launchChromium();
    const page = await browser.newPage();
    const answered = page.waitForResponse((r) => r.url().includes('/api/models/compare') && r.status() === 200);
    await page.goto(`${line.overlay!.url}?token=${TOKEN}`);
    expect(await (await answered).json()).toMatchObject({ comparisons: [] });
    await page.locator('.tile[data-camera="cam1"]').waitFor();
    expect(await page.locator('#models-panel').isHidden()).toBe(true);
    expect(await page.locator('#models-panel .models-body').innerHTML()).toBe(''); // answered, and nothing to show
  }, 30_000);
});
