/**
 * How big the chaos runs are. The normal suite (`npx vitest run`) runs them
 * CI-sized; `npm run chaos` sets LINESIGHT_CHAOS_SCALE=full for the sizes the
 * published figures come from. Only the sizes differ, never the assertions.
 */
export type ChaosScale = 'ci' | 'full';

export interface ChaosSizes {
  scale: ChaosScale;
  /** How long the broker flaps, ms. */
  flapMs: number;
  /** How long PUBACKs come late, ms. */
  slowAckMs: number;
  /** SIGKILL rounds against the checkpoint/retention child. */
  killRounds: number;
}

const SIZES: Record<ChaosScale, Omit<ChaosSizes, 'scale'>> = {
  ci: { flapMs: 15_000, slowAckMs: 10_000, killRounds: 20 },
  full: { flapMs: 60_000, slowAckMs: 60_000, killRounds: 100 },
};

export function chaosSizes(env: NodeJS.ProcessEnv = process.env): ChaosSizes {
  const raw = env.LINESIGHT_CHAOS_SCALE ?? 'ci';
  if (raw !== 'ci' && raw !== 'full') throw new Error(`Expected LINESIGHT_CHAOS_SCALE to be "ci" or "full" but received "${raw}"`);
  return { scale: raw, ...SIZES[raw] };
}
