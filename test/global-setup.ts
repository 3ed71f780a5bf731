import { execFileSync } from 'node:child_process';

/** CLI tests run the built `dist/cli.js`, as users do; build it once per run. */
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
