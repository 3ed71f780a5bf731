import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../config/schema.js';
import type * as ort from 'onnxruntime-node';
import type { ProviderName } from './session.js';

/*
 * Execution-provider options built from `model.*`, one object per provider,
 * merged by `executionProviders()` into `{ name, ...options }` in
 * `sessionOptions.executionProviders`.
 *
 * Names, and who reads them (see docs/jetson.md):
 *
 * - `deviceId` is the one key the Node binding itself reads, for `cuda` and
 *   `tensorrt` alike (js/node/src/session_options_helper.cc; the typings in
 *   onnxruntime-common's inference-session.d.ts declare only `{ name, deviceId? }`
 *   for both).
 *
 * - `trt_*` are the TensorRT EP's own option names, spelled exactly as
 *   onnxruntime documents them for OrtTensorRTProviderOptionsV2 and
 *   `UpdateTensorRTProviderOptions` (onnxruntime.ai/docs/execution-providers/
 *   TensorRT-ExecutionProvider.html, "Configurations"): `trt_fp16_enable`,
 *   `trt_engine_cache_enable`, `trt_engine_cache_path`,
 *   `trt_max_workspace_size` (bytes), `trt_dla_enable`, `trt_dla_core`.
 *
 * Upstream limitation, stated plainly: the stock onnxruntime-node binding
 * (npm, every version up to 1.23.x; microsoft/onnxruntime#26854) passes
 * ONLY `deviceId` to the TensorRT EP and ignores every other field, and the
 * `ORT_TENSORRT_*` environment variables are not read on the V2 path Node uses
 * (tensorrt_provider_factory.cc sets has_trt_options; #18380). With a stock
 * binding the `trt_*` keys below are silently ignored: no FP16, no engine
 * cache, the engine is rebuilt at every start (minutes on an Orin).
 * Dockerfile.jetson therefore patches session_options_helper.cc so that every
 * `trt_*` key of the EP object is forwarded, as a string, through
 * `UpdateTensorRTProviderOptions` — which is why the snake_case names are used
 * here rather than the camelCase `trtFp16Enable`… of an unverified fork.
 * Unknown `trt_*` keys are rejected by onnxruntime itself in that build, so a
 * typo cannot pass silently there either.
 */

export type ProviderOptionsMap = Partial<Record<ProviderName, Record<string, unknown>>>;

/**
 * The provider lists tried in turn, one a session attempt: each attempt
 * registers its provider and every one configured after it, so the nodes
 * TensorRT rejects run on CUDA rather than on the CPU (onnxruntime assigns
 * each node to the first registered provider that takes it; TensorRT on the
 * Jetson: docs/jetson.md). An attempt whose provider is missing from the
 * build fails as a whole, and the next one is tried.
 *
 * @example
 * providerChains(['tensorrt', 'cuda', 'cpu']);
 * // → [['tensorrt', 'cuda', 'cpu'], ['cuda', 'cpu'], ['cpu']]
 */
export function providerChains(order: readonly ProviderName[]): ProviderName[][] {
  return order.map((_, i) => order.slice(i));
}

/** onnxruntime's `executionProviders` for one chain: `{ name, ...its options }` per provider, in chain order. */
export function executionProviders(chain: readonly ProviderName[], options: ProviderOptionsMap = {}): ort.InferenceSession.ExecutionProviderConfig[] {
  return chain.map((name) => ({ name, ...(options[name] ?? {}) }) as ort.InferenceSession.ExecutionProviderConfig);
}

const MIB = 1024 * 1024;

/**
 * The engine-cache subdirectory for one precision/DLA combination. onnxruntime
 * names cached engines after the model, not after the build settings, and a
 * cached engine is reused as is (TensorRT EP docs: "each engine is created for
 * specific settings such as … precision … it is essential to make sure those
 * settings are not changing"). Keeping FP16/FP32 and GPU/DLA engines in
 * separate folders means changing `fp16` or `dla_core` in the config builds a
 * fresh engine instead of silently reusing one built for other settings.
 */
export function engineCacheSubdir(trt: ModelConfig['tensorrt']): string {
  return `trt-${trt.fp16 ? 'fp16' : 'fp32'}${trt.dla_core === undefined ? '' : `-dla${trt.dla_core}`}`;
}

/**
 * Builds the option objects for onnxruntime-node's `executionProviders`
 * entries from the validated model config.
 *
 * @example
 * providerOptions({ ...model, device_id: 0, tensorrt: { fp16: true, engine_cache_dir: '/var/lib/linesight/trt' } })
 * // → { tensorrt: { deviceId: 0, trt_fp16_enable: true, trt_engine_cache_enable: true,
 * //                 trt_engine_cache_path: '/var/lib/linesight/trt/trt-fp16' },
 * //     cuda: { deviceId: 0 } }
 */
export function providerOptions(model: Pick<ModelConfig, 'device_id' | 'tensorrt'>): ProviderOptionsMap {
  const trt = model.tensorrt;
  const tensorrt: Record<string, unknown> = {
    deviceId: model.device_id,
    // Always explicit: onnxruntime's default is FP32, ours is FP16 (schema default true).
    trt_fp16_enable: trt.fp16,
  };
  if (trt.engine_cache_dir !== undefined) {
    tensorrt.trt_engine_cache_enable = true;
    tensorrt.trt_engine_cache_path = join(trt.engine_cache_dir, engineCacheSubdir(trt));
  }
  if (trt.workspace_mb !== undefined) {
    // onnxruntime takes bytes (size_t); MiB × 2^20 stays far below 2^53.
    tensorrt.trt_max_workspace_size = trt.workspace_mb * MIB;
  }
  if (trt.dla_core !== undefined) {
    // Layers DLA cannot run fall back to the GPU (the EP sets kGPU_FALLBACK when DLA is on).
    tensorrt.trt_dla_enable = true;
    tensorrt.trt_dla_core = trt.dla_core;
  }
  return {
    tensorrt,
    // The binding reads only deviceId for CUDA as well (session_options_helper.cc).
    cuda: { deviceId: model.device_id },
    // No CPU entry: the defaults are right, and intra-op threads are a session option.
  };
}

/**
 * Creates the engine-cache directory before the session is opened. The
 * TensorRT EP creates only the last path component itself, so a cache path
 * whose parent is missing would fail the TensorRT attempt and quietly fall
 * back to CUDA. Idempotent.
 */
export function ensureProviderDirs(options: ProviderOptionsMap): void {
  const path = options.tensorrt?.trt_engine_cache_path;
  if (typeof path === 'string' && path !== '') mkdirSync(path, { recursive: true });
}
