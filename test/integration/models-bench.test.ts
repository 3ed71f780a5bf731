import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { measureShadowCost } from '../../src/bench/shadow-cost.js';
import { ROOT } from '../helpers/cli.js';

describe('bench: the cost of a shadow run', () => {
  it('times the candidate as a shadow run opens it and states the core share per camera at the default share', async () => {
    const cost = await measureShadowCost(join(ROOT, 'test/fixtures/models/squares-v8.onnx'), ['cpu']);
    expect(cost).toMatchObject({ provider: 'cpu', threads: 1, share: 0.25, cameraFps: 5 });
    expect(cost.frames).toBeGreaterThan(0);
    expect(cost.cpuMsPerFrame).toBeGreaterThan(0);
    expect(cost.corePctPerCamera).toBeCloseTo((cost.cpuMsPerFrame * 0.25 * 5) / 10, 1);
  }, 30_000);
});
