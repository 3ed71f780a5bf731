import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, type ModelConfig } from '../../src/config/schema.js';
import { engineCacheSubdir, ensureProviderDirs, executionProviders, providerChains, providerOptions } from '../../src/infer/providers.js';
import { openSession } from '../../src/infer/session.js';
import { silentLogger } from '../../src/log.js';

const MODEL = join(import.meta.dirname, '../fixtures/models/squares-v8.onnx');

/** The model section as the loader produces it: schema defaults applied. */
function model(extra: Record<string, unknown> = {}): ModelConfig {
  return configSchema.parse({ cameras: [{ id: 'c', url: 'x.mp4' }], model: { path: 'm.onnx', ...extra } }).model;
}

describe('providerOptions', () => {
  it('with schema defaults: device 0, FP16 on, nothing else (TensorRT builds and keeps no cache)', () => {
    expect(providerOptions(model())).toEqual({
      tensorrt: { deviceId: 0, trt_fp16_enable: true },
      cuda: { deviceId: 0 },
    });
  });

  it('maps every tensorrt key to the option name onnxruntime documents', () => {
    const opts = providerOptions(model({
      device_id: 1,
      tensorrt: { fp16: true, engine_cache_dir: '/var/lib/linesight/trt-cache', workspace_mb: 2048, dla_core: 1 },
    }));
    expect(opts.tensorrt).toEqual({
      deviceId: 1,
      trt_fp16_enable: true,
      trt_engine_cache_enable: true,
      trt_engine_cache_path: '/var/lib/linesight/trt-cache/trt-fp16-dla1',
      trt_max_workspace_size: 2048 * 1024 * 1024,
      trt_dla_enable: true,
      trt_dla_core: 1,
    });
    expect(opts.cuda).toEqual({ deviceId: 1 });
    expect(opts.cpu).toBeUndefined();
  });

  it('workspace is given in bytes, exactly', () => {
    expect(providerOptions(model({ tensorrt: { workspace_mb: 1 } })).tensorrt?.trt_max_workspace_size).toBe(1_048_576);
    expect(providerOptions(model({ tensorrt: { workspace_mb: 6144 } })).tensorrt?.trt_max_workspace_size).toBe(6_442_450_944);
  });

  it('FP32 is passed explicitly when fp16 is off (onnxruntime would default to it anyway)', () => {
    expect(providerOptions(model({ tensorrt: { fp16: false } })).tensorrt).toEqual({ deviceId: 0, trt_fp16_enable: false });
  });

  it('DLA core 0 is a real core, not "unset"', () => {
    const trt = providerOptions(model({ tensorrt: { dla_core: 0 } })).tensorrt;
    expect(trt).toMatchObject({ trt_dla_enable: true, trt_dla_core: 0 });
  });

  it('keeps engines for different precision/DLA settings apart, so a config change never reuses a stale engine', () => {
    const base = { engine_cache_dir: '/cache' };
    const paths = [
      { ...base, fp16: true },
      { ...base, fp16: false },
      { ...base, fp16: true, dla_core: 0 },
      { ...base, fp16: true, dla_core: 1 },
    ].map((t) => providerOptions(model({ tensorrt: t })).tensorrt?.trt_engine_cache_path);
    expect(paths).toEqual(['/cache/trt-fp16', '/cache/trt-fp32', '/cache/trt-fp16-dla0', '/cache/trt-fp16-dla1']);
    expect(new Set(paths).size).toBe(4);
  });

  it('the workspace size does not split the cache (it does not change what the engine computes)', () => {
    expect(engineCacheSubdir(model({ tensorrt: { workspace_mb: 512 } }).tensorrt)).toBe(engineCacheSubdir(model().tensorrt));
  });

  it('only uses keys the binding or the TensorRT EP know: deviceId and documented trt_* names', () => {
    const documented = new Set([
      'deviceId', 'trt_fp16_enable', 'trt_engine_cache_enable', 'trt_engine_cache_path',
      'trt_max_workspace_size', 'trt_dla_enable', 'trt_dla_core',
    ]);
    const opts = providerOptions(model({ tensorrt: { engine_cache_dir: '/c', workspace_mb: 64, dla_core: 0 } }));
    for (const key of Object.keys(opts.tensorrt ?? {})) expect(documented.has(key), key).toBe(true);
    // Values the patched binding can forward as strings: booleans, integers, strings.
    for (const value of Object.values(opts.tensorrt ?? {})) {
      expect(typeof value === 'boolean' || Number.isSafeInteger(value) || typeof value === 'string').toBe(true);
    }
  });
});

describe('ensureProviderDirs', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('creates the whole engine-cache path (the EP itself creates only the last level)', () => {
    dir = mkdtempSync(join(tmpdir(), 'linesight-trt-'));
    const opts = providerOptions(model({ tensorrt: { engine_cache_dir: join(dir, 'a', 'b') } }));
    ensureProviderDirs(opts);
    ensureProviderDirs(opts); // idempotent
    expect(statSync(join(dir, 'a', 'b', 'trt-fp16')).isDirectory()).toBe(true);
  });

  it('does nothing without an engine cache', () => {
    expect(() => ensureProviderDirs(providerOptions(model()))).not.toThrow();
    expect(() => ensureProviderDirs({})).not.toThrow();
  });
});

describe('provider chains: each attempt registers its provider and every one after it', () => {
  it('TensorRT with CUDA and the CPU behind it, then CUDA with the CPU, then the CPU', () => {
    expect(providerChains(['tensorrt', 'cuda', 'cpu'])).toEqual([['tensorrt', 'cuda', 'cpu'], ['cuda', 'cpu'], ['cpu']]);
    expect(providerChains(['cuda', 'cpu'])).toEqual([['cuda', 'cpu'], ['cpu']]);
    expect(providerChains(['tensorrt', 'cpu'])).toEqual([['tensorrt', 'cpu'], ['cpu']]);
    expect(providerChains(['cpu'])).toEqual([['cpu']]);
    expect(providerChains([])).toEqual([]);
  });

  it('gives each provider of a chain its own options, in chain order', () => {
    const opts = providerOptions(model({ device_id: 1 }));
    expect(executionProviders(['tensorrt', 'cuda', 'cpu'], opts)).toEqual([
      { name: 'tensorrt', deviceId: 1, trt_fp16_enable: true },
      { name: 'cuda', deviceId: 1 },
      { name: 'cpu' },
    ]);
    expect(executionProviders(['cuda', 'cpu'], opts)).toEqual([{ name: 'cuda', deviceId: 1 }, { name: 'cpu' }]);
    expect(executionProviders(['cpu'])).toEqual([{ name: 'cpu' }]);
  });

  it('falls back chain by chain on this CPU-only build and reports which provider is active and why the others were refused', async () => {
    const opened = await openSession(MODEL, { providers: ['tensorrt', 'cuda', 'cpu'], threads: 1 }, silentLogger());
    try {
      expect(opened.provider).toBe('cpu');
      expect(opened.skipped.map((s) => s.provider)).toEqual(['tensorrt', 'cuda']);
      expect(opened.skipped[0].reason).toMatch(/TensorRT/);
      expect(opened.skipped[1].reason).toMatch(/Cuda/i);
    } finally {
      await opened.session.release();
    }
  });

  it('tries only the whole chain when fallback is off: E_PROVIDER, not a quiet CPU session', async () => {
    await expect(openSession(MODEL, { providers: ['cuda', 'cpu'], threads: 1, fallback: false }, silentLogger())).rejects.toMatchObject({
      code: 'E_PROVIDER', details: { skipped: [{ provider: 'cuda', reason: expect.any(String) }] },
    });
  });
});
