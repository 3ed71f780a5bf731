import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // test/chaos runs here CI-sized; `npm run chaos` (vitest.chaos.config.ts) runs it full-sized and prints the table.
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll waits for what a page or a process will do; on two busy cores that can take longer than its 1 s default.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    // Two cores: real-time camera tests get flaky when more than two files compete.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
