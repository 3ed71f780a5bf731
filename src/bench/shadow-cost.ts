/**
 * (1c) a shadow run's cost: the candidate model as a shadow run opens it (one
 * session, `model.shadow.threads`, one frame per call, the frame copied out of
 * the camera's buffer), timed on blank model inputs, and the share of one core
 * that makes per camera at the default share and camera rate. The bench runs
 * its own model as the candidate: a candidate usually is a retrained copy.
 */
import { configSchema } from '../config/schema.js';
import { createDetector } from '../infer/detector.js';
import type { ProviderName } from '../infer/session.js';
import { blankFrames } from '../models/load.js';
import type { ShadowCostResult } from './report.js';
import { round } from './stats.js';

/** Calls timed at most, and the longest the timing runs. */
const CALLS = 200;
const LIMIT_MS = 3000;

export async function measureShadowCost(model: string, providers: readonly ProviderName[]): Promise<ShadowCostResult> {
  const defaults = configSchema.shape.model.parse({ path: model });
  const cameraFps = configSchema.shape.cameras.element.shape.fps.parse(undefined);
  const detector = await createDetector({ path: model, providers, sessions: 1, threads: defaults.shadow.threads });
  try {
    const [frame] = blankFrames(detector.info.inputWidth, detector.info.inputHeight, 1);
    await detector.detect([frame]); // warm-up
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let calls = 0;
    while (calls < CALLS && Number(process.hrtime.bigint() - t0) / 1e6 < LIMIT_MS) {
      // As the shadow run does: a copy of the camera's model input, then one call.
      const copy = { ...frame, input: { ...frame.input, rgb: Buffer.from(frame.input.rgb) } };
      await detector.detect([copy]);
      calls++;
    }
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    // The session runs on a worker thread of this process: process CPU counts it.
    const cpuMsPerFrame = (cpu.user + cpu.system) / 1000 / calls;
    const share = defaults.shadow.share;
    return {
      provider: detector.info.provider, threads: defaults.shadow.threads, frames: calls,
      msPerFrame: round(wallMs / calls, 2), cpuMsPerFrame: round(cpuMsPerFrame, 2),
      share, cameraFps, corePctPerCamera: round((cpuMsPerFrame * share * cameraFps) / 10, 2),
    };
  } finally {
    await detector.close();
  }
}
