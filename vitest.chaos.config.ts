import { defineConfig } from 'vitest/config';

/**
 * `npm run chaos`: the chaos tests at full size (a minute of flapping, a minute
 * of late PUBACKs, 100 kills), then the table of their figures. The normal
 * suite (vitest.config.ts) runs the same tests CI-sized.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/chaos/global-setup.ts'],
    env: { LINESIGHT_CHAOS_SCALE: 'full' },
    testTimeout: 600_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: each test's child process needs one to keep its timing honest.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
