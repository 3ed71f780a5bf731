/**
 * What can be checked of the container builds without a Docker engine: every
 * file a Dockerfile COPYs from the context exists and survives .dockerignore,
 * stage references and build arguments resolve, the images run as a non-root
 * user with a health check, the build keeps the files the CLI reads from src/
 * at run time; plus the shell and config files the images and
 * scripts/install.sh ship. Building and running the images is not possible here.
 *
 * The Dockerfiles are read by dockerfile-ast (continuations, here-documents,
 * flags, stages as Docker reads them) and .dockerignore by @balena/dockerignore
 * (Docker's own matching rules), not by hand-written parsers.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import dockerignoreModule from '@balena/dockerignore';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateConfig } from '../../src/config/load.js';

const ROOT = resolve(import.meta.dirname, '../..');

// A CommonJS module whose typings declare an ES default export; it sets `.default` on itself for this.
const ignore = dockerignoreModule.default;
const dockerignore = ignore().add(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));

/** Files under a context path (a file or a directory), relative to the repository root. */
function filesUnder(path: string): string[] {
  const abs = join(ROOT, path);
  if (!statSync(abs).isDirectory()) return [path];
  return readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(ROOT, join(d.parentPath, d.name)));
}

/** What the build context holds of a path: its files that .dockerignore does not exclude. */
const inContext = (path: string) => filesUnder(path).filter((f) => !dockerignore.ignores(f));

interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}

/** The build stages in file order, each with the instructions after its FROM. */
function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.getKeyword() === 'FROM') {
      const args = ins.getArguments().map((a) => a.getValue());
      const as = args.findIndex((a) => a.toUpperCase() === 'AS');
      stages.push({ image: args[0], name: as >= 0 ? args[as + 1] : null, instructions: [] });
    } else stages.at(-1)?.instructions.push(ins);
  }
  return stages;
}

/** COPY sources, without flags and destination; JSON form or plain. */
function copySources(copy: Copy): string[] {
  const json = copy.getJSONStrings().map((s) => s.getJSONValue());
  const args = json.length > 0 ? json : copy.getArguments().map((a) => a.getValue());
  return args.slice(0, -1);
}

const fromFlag = (ins: Instruction) => (ins as Copy).getFromFlag?.()?.getValue() ?? null;

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe.each(['Dockerfile', 'Dockerfile.jetson'])('%s', (file) => {
  const dockerfile = DockerfileParser.parse(readFileSync(join(ROOT, file), 'utf8'));
  const instructions = dockerfile.getInstructions();
  const stages = stagesOf(instructions);
  const globalArgs = new Set(dockerfile.getInitialARGs().map((a) => a.getProperty()?.getName()));

  it('every FROM resolves: build arguments declared before the first FROM, stages defined before use', () => {
    expect(stages.length).toBeGreaterThan(1);
    const names = stages.map((s) => s.name).filter((n): n is string => n !== null);
    expect(new Set(names).size, `${file}: stage names repeat`).toBe(names.length);
    stages.forEach((stage, i) => {
      for (const [, name] of stage.image.matchAll(/\$\{?(\w+)/g)) {
        expect(globalArgs.has(name), `${file}: FROM ${stage.image} uses ARG ${name}, not declared before the first FROM`).toBe(true);
      }
      // A bare name that is some stage's name must be an earlier stage (else Docker pulls an image of that name).
      const later = stages.slice(i).some((s) => s.name === stage.image);
      expect(later, `${file}: FROM ${stage.image} before that stage is defined`).toBe(false);
      for (const ins of stage.instructions) {
        const from = fromFlag(ins);
        if (from === null) continue;
        const earlier = stages.slice(0, i).map((s) => s.name);
        expect(earlier, `${file}: ${ins.getKeyword()} --from=${from} in stage ${stage.name ?? i} before that stage exists`).toContain(from);
      }
    });
  });

  it('every file copied from the context exists and is not excluded by .dockerignore', () => {
    const copies = instructions.filter((i): i is Copy => (i.getKeyword() === 'COPY' || i.getKeyword() === 'ADD') && fromFlag(i) === null);
    const sources = copies.flatMap(copySources);
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources) {
      expect(existsSync(join(ROOT, src)), `${file}: COPY ${src}: no such file in the repository`).toBe(true);
      const files = filesUnder(src);
      expect(files.length, `${file}: COPY ${src} copies nothing`).toBeGreaterThan(0);
      for (const f of files) expect(dockerignore.ignores(f), `${file}: COPY ${src}: ${f} is excluded by .dockerignore`).toBe(false);
    }
  });

  it('the final stage runs as a non-root user, with a health check', () => {
    const final = stages.at(-1)!.instructions;
    const user = final.filter((i) => i.getKeyword() === 'USER').at(-1)?.getArguments()[0]?.getValue();
    expect(user, `${file}: the final stage sets no USER`).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
    const health = final.filter((i) => i.getKeyword() === 'HEALTHCHECK').at(-1);
    expect(health, `${file}: the final stage has no HEALTHCHECK`).toBeDefined();
    expect(health!.getArguments()[0]?.getValue().toUpperCase()).toBe('CMD');
  });

  it('npm never runs the root prepare (tsc) before the source is copied', () => {
    for (const stage of stages) {
      const sourceAt = stage.instructions.findIndex((i) => i.getKeyword() === 'COPY' && fromFlag(i) === null && copySources(i as Copy).some((s) => s === 'src' || s.startsWith('src/')));
      const before = sourceAt < 0 ? stage.instructions : stage.instructions.slice(0, sourceAt);
      for (const run of before.filter((i) => i.getKeyword() === 'RUN')) {
        const command = run.getArgumentsContent() ?? '';
        if (/\bnpm\s+(ci|install|i)\b/.test(command)) expect(command, `${file}: ${command}`).toMatch(/--ignore-scripts/);
      }
    }
  });

  it("the build drops the TypeScript sources but keeps what the CLI runs from src/ at run time (the bench's Python scripts)", () => {
    const build = instructions.find((i) => i.getKeyword() === 'RUN' && /\bnpm run build\b/.test(i.getArgumentsContent() ?? ''));
    expect(build, `${file}: no RUN with npm run build`).toBeDefined();
    // What the COPY steps put in /app that the cleanup may touch, from the build context.
    const app = mkdtempSync(join(tmpdir(), 'linesight-docker-src-'));
    temps.push(app);
    for (const f of [...inContext('src'), ...inContext('tsconfig.json'), ...inContext('tsconfig.build.json')]) {
      mkdirSync(join(app, dirname(f)), { recursive: true });
      cpSync(join(ROOT, f), join(app, f));
    }
    // The RUN as the image's SHELL runs it, with npm stubbed out: only its file operations on /app matter here.
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `npm() { :; }\n${build!.getArgumentsContent()}`], { cwd: app, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);

    const runtimeFiles = inContext('src').filter((f) => !f.endsWith('.ts')); // tsc does not copy these to dist
    expect(runtimeFiles).toEqual(expect.arrayContaining(['src/bench/peer_opencv.py', 'src/bench/rtsp_server.py']));
    for (const f of runtimeFiles) expect(existsSync(join(app, f)), `${file}: the build deletes ${f}`).toBe(true);
    const left = existsSync(join(app, 'src')) ? readdirSync(join(app, 'src'), { recursive: true, encoding: 'utf8' }) : [];
    expect(left.filter((f) => f.endsWith('.ts')), `${file}: TypeScript sources left in the image`).toEqual([]);
  });
});

describe('files the installs ship', () => {
  it('the config template validates against the schema', () => {
    const raw = parse(readFileSync(join(ROOT, 'systemd/line.example.yaml'), 'utf8')) as Record<string, unknown>;
    const result = validateConfig(raw);
    expect(result.problems).toEqual([]);
  });

  it('scripts/install.sh is valid bash (and clean under shellcheck when installed)', () => {
    const syntax = spawnSync('bash', ['-n', join(ROOT, 'scripts/install.sh')], { encoding: 'utf8' });
    expect(syntax.status, syntax.stderr).toBe(0);
    const sc = spawnSync('shellcheck', [join(ROOT, 'scripts/install.sh')], { encoding: 'utf8' });
    if (sc.error) {
      console.warn('docker-context.test.ts: shellcheck not installed; only bash -n was run on scripts/install.sh');
      return;
    }
    expect(sc.status, sc.stdout).toBe(0);
  });
});
