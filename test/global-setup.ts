import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * CLI tests run the built `dist/cli.js`, as users do; build it once per run.
 * Type errors are `npm run typecheck`'s to report (CI runs it before the
 * tests): tsc still emits, so a type error fails the typecheck, not every test.
 */
export default function setup(): void {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (build.status !== 0 && !existsSync('dist/cli.js')) {
    throw new Error(`the build (tsc -p tsconfig.build.json) failed with status ${build.status} and produced no dist/cli.js`);
  }
  if (build.status !== 0) process.stderr.write('global setup: tsc reported type errors (npm run typecheck lists them); testing what it emitted\n');
}
