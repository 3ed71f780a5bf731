import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { validateConfig } from '../../src/config/load.js';
import { configSchema, healthSchema } from '../../src/config/schema.js';
import { CameraHealthMonitor, healthConfigFor, type HealthChange } from '../../src/health/index.js';
import type { Frame } from '../../src/types.js';

/* A 640×360 camera letterboxed into 320×320 (content 320×180 from row 70), timed by a hand-driven clock. */
const W = 320;
const H = 320;
const TOP = 70;

type Scene = (x: number, y: number) => number;

/** A textured static scene: bars and blobs, 0–1, shifted right by `dx` content pixels. */
const textured = (dx = 0): Scene => (x, y) => 0.45 + 0.25 * Math.sin((x - dx) / 3) * Math.cos(y / 4) + 0.15 * Math.sin((x - dx + y) / 7);

function frameOf(scene: Scene, noise: number, seq: number): Frame {
  const rgb = Buffer.alloc(W * H * 3, 114);
  let s = seq * 7919 + 1;
  for (let y = 0; y < 180; y++) {
    for (let x = 0; x < W; x++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      const v = Math.max(0, Math.min(255, Math.round(255 * scene(x, y) + noise * ((s / 2 ** 32) - 0.5))));
      rgb.fill(v, ((y + TOP) * W + x) * 3, ((y + TOP) * W + x) * 3 + 3);
    }
  }
  return { camera: 'c', seq, captureTs: 0, captureMono: 0, width: 640, height: 360, pictured: false, input: { rgb, width: W, height: H, release: () => undefined } };
}

/** A monitor fed at 5 fps by a clock that moves only when told; `play` runs a scene for some seconds. */
function rig(health: Record<string, unknown> = {}) {
  let t = 0;
  const clock = { now: () => 1_000_000 + t, monotonic: () => t } as Clock;
  const cfg = healthSchema.parse({ learn_seconds: 4, frozen_after: 3, dark_after: 2, blurred_after: 2, moved_after: 2, clear_after: 2, ...health });
  const monitor = new CameraHealthMonitor('c', cfg, { clock });
  const changes: Array<{ at: number } & HealthChange> = [];
  monitor.on('change', (c) => changes.push({ at: t / 1000, ...c }));
  let seq = 0;
  /** Still frames are the very same picture again (a stuck stream); live ones carry fresh sensor noise. */
  const play = (seconds: number, scene: Scene, mode: 'live' | 'stuck' = 'live') => {
    const stuck = frameOf(scene, 6, seq);
    for (const end = t + seconds * 1000; t < end; t += 200) monitor.offer(mode === 'stuck' ? stuck : frameOf(scene, 6, ++seq));
  };
  return { monitor, changes, play, now: () => t / 1000 };
}

const summary = (changes: HealthChange[]) => changes.map((c) => [c.state, c.reasons]);

describe('CameraHealthMonitor', () => {
  it('stays ok on a live, noisy, still scene, and learns its baseline in learn_seconds', () => {
    const { monitor, changes, play } = rig();
    play(2, textured());
    expect(monitor.snapshot()).toMatchObject({ state: 'ok', learning: true });
    play(28, textured());
    expect(changes).toEqual([]);
    const snap = monitor.snapshot();
    expect(snap).toMatchObject({ state: 'ok', reasons: [], learning: false });
    expect(snap.values!.change).toBeGreaterThan(0.001); // sensor noise: never "the same picture"
    expect(snap.values!.stillSeconds).toBe(0);
    expect(snap.values!.shiftFraction).toBeLessThan(0.01);
    expect(snap.values!.sharpnessBaseline).toBeGreaterThan(0);
  });

  it('reports a stuck stream as frozen after frozen_after, and clears it clear_after once frames change again', () => {
    const { changes, play } = rig();
    play(6, textured());
    play(8, textured(), 'stuck'); // from 6 s
    play(6, textured()); // from 14 s
    expect(summary(changes)).toEqual([['degraded', ['frozen']], ['ok', []]]);
    expect(changes[0].at).toBeGreaterThanOrEqual(6 + 3);
    expect(changes[0].at).toBeLessThanOrEqual(6 + 3 + 0.6);
    expect(changes[1].at).toBeGreaterThanOrEqual(14 + 2);
    expect(changes[1].at).toBeLessThanOrEqual(14 + 2 + 0.6);
    expect(changes[0].values.stillSeconds).toBeGreaterThanOrEqual(3);
  });

  it('samples at sample_fps by the monotonic clock, not at the frame rate', () => {
    const { monitor, play } = rig({ sample_fps: 1, frozen_after: 2.5 });
    play(6, textured());
    play(2.4, textured(), 'stuck');
    // At 1 sample/s, 2.4 s of a stuck stream has shown 2 identical samples: still for 2 s, not 2.4.
    expect(monitor.snapshot().values!.stillSeconds).toBe(2);
  });

  it('tells dark (a black picture) from covered (a uniform, not black, picture), never both', () => {
    const dark = rig();
    dark.play(6, textured());
    dark.play(5, () => 0.01);
    expect(summary(dark.changes)).toEqual([['degraded', ['dark']]]);
    const covered = rig();
    covered.play(6, textured());
    covered.play(5, () => 0.2);
    expect(summary(covered.changes)).toEqual([['degraded', ['covered']]]);
    const bright = rig();
    bright.play(6, textured());
    bright.play(5, () => 0.99);
    expect(summary(bright.changes)).toEqual([['degraded', ['bright']]]);
  });

  it('reports blurred against the learned sharpness, and moved against the learned reference', () => {
    // The same scene out of focus: its fine bars nearly gone, its broad shading kept.
    const blur: Scene = (x, y) => 0.45 + 0.02 * Math.sin(x / 3) * Math.cos(y / 4) + 0.14 * Math.sin((x + y) / 7);
    const { changes, play } = rig();
    play(6, textured());
    play(4, blur);
    play(4, textured());
    play(4, textured(40)); // 40 of 320 content pixels: 12.5 % of the width
    expect(summary(changes)).toEqual([['degraded', ['blurred']], ['ok', []], ['degraded', ['moved']]]);
    expect(changes[2].values.shiftFraction).toBeGreaterThan(0.04);
  });

  it('re-learns on demand: moved is dropped at once and the new aim becomes the reference', () => {
    const { monitor, changes, play } = rig();
    play(6, textured());
    play(4, textured(40));
    expect(monitor.snapshot().reasons).toEqual(['moved']);
    monitor.relearn();
    expect(monitor.snapshot()).toMatchObject({ state: 'ok', reasons: [], learning: true });
    play(10, textured(40));
    expect(summary(changes)).toEqual([['degraded', ['moved']], ['ok', []]]);
    expect(monitor.snapshot().learning).toBe(false);
  });

  it('judges nothing a check turned off, and nothing at all when disabled', () => {
    const off = rig({ checks: { frozen: false } });
    off.play(6, textured());
    off.play(8, textured(), 'stuck');
    expect(off.changes).toEqual([]);
    const disabled = rig({ enabled: false });
    disabled.play(6, () => 0.01);
    expect(disabled.changes).toEqual([]);
    expect(disabled.monitor.snapshot().values).toBeUndefined();
  });
});

describe('healthConfigFor', () => {
  it('lays a camera\'s own health keys over the global block, check by check', () => {
    const config = configSchema.parse({
      model: { path: 'm.onnx' },
      health: { frozen_after: 20, checks: { moved: false } },
      cameras: [
        { id: 'a', url: 'a.mp4' },
        { id: 'b', url: 'b.mp4', health: { frozen_after: 5, checks: { blurred: false } } },
      ],
    });
    const a = healthConfigFor(config.cameras[0], config);
    const b = healthConfigFor(config.cameras[1], config);
    expect(a).toMatchObject({ enabled: true, sample_fps: 2, learn_seconds: 60, frozen_after: 20, moved_fraction: 0.04, clear_after: 3 });
    expect(a.checks).toEqual({ frozen: true, dark: true, bright: true, covered: true, blurred: true, moved: false });
    expect(b.frozen_after).toBe(5);
    expect(b.checks).toEqual({ frozen: true, dark: true, bright: true, covered: true, blurred: false, moved: false });
    expect(Object.isFrozen(b)).toBe(true);
  });

  it('refuses unknown and out-of-range health keys with their path', () => {
    const { problems } = validateConfig({ model: { path: 'm.onnx' }, health: { blurred_ratio: 2 }, cameras: [{ id: 'a', url: 'a.mp4', health: { frozen: true } }] });
    const paths = problems.map((p) => p.path);
    expect(paths).toContain('health.blurred_ratio');
    expect(paths).toContain('cameras[0].health.frozen'); // a check belongs under checks:
  });
});
