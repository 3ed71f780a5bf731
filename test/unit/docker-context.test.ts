/**
 * What can be checked of the container builds without a Docker engine: every
 * file a Dockerfile COPYs from the context exists and survives .dockerignore,
 * stage references and build arguments resolve, the images run as a non-root
 * user with a health check; plus the shell and config files the images and
 * scripts/install.sh ship. Building and running the images is not possible here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateConfig } from '../../src/config/load.js';

const ROOT = resolve(import.meta.dirname, '../..');

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions with line continuations joined; here-document bodies skipped. */
function instructions(file: string): Instruction[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const out: Instruction[] = [];
  let stage = -1;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i].replace(/^\s*#.*$/, '')}`;
    const heredoc = /<<-?'?(\w+)'?/.exec(line);
    if (heredoc) while (i + 1 < lines.length && lines[++i].trim() !== heredoc[1]);
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`${file}: cannot read line ${i + 1}: ${line}`);
    if (m[1] === 'FROM') stage++;
    out.push({ op: m[1], args: m[2].trim(), stage });
  }
  return out;
}

/** .dockerignore semantics (moby/patternmatcher): last matching pattern wins, a pattern matching a parent directory matches its contents. */
function ignoredBy(patterns: string[]): (path: string) => boolean {
  const rules = patterns.map((raw) => {
    const negate = raw.startsWith('!');
    const glob = (negate ? raw.slice(1) : raw).replace(/^\/+/, '').replace(/\/+$/, '');
    const re = new RegExp(`^${glob.split(/(\*\*\/?|\*|\?)/).map((part) => {
      if (part === '**/' || part === '**') return '(?:.*/)?';
      if (part === '*') return '[^/]*';
      if (part === '?') return '[^/]';
      return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }).join('')}$`);
    return { negate, re };
  });
  return (path) => {
    const parts = path.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const { negate, re } of rules) if (candidates.some((c) => re.test(c))) ignored = !negate;
    return ignored;
  };
}

const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const isIgnored = ignoredBy(dockerignore);

function filesUnder(path: string): string[] {
  const abs = join(ROOT, path);
  if (!statSync(abs).isDirectory()) return [path];
  return readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(ROOT, join(d.parentPath, d.name)));
}

describe.each(['Dockerfile', 'Dockerfile.jetson'])('%s', (file) => {
  const ins = instructions(file);
  const firstFrom = ins.findIndex((i) => i.op === 'FROM');
  const globalArgs = new Set(ins.slice(0, firstFrom).filter((i) => i.op === 'ARG').map((i) => i.args.split('=')[0]));
  const stages = ins.filter((i) => i.op === 'FROM').map((i) => /\sAS\s+(\S+)/i.exec(i.args)?.[1]);

  it('every FROM resolves: build arguments declared before the first FROM, stages defined before use', () => {
    for (const from of ins.filter((i) => i.op === 'FROM')) {
      const image = from.args.split(/\s+/)[0];
      for (const [, name] of image.matchAll(/\$\{(\w+)\}/g)) expect(globalArgs.has(name), `${file}: FROM uses undeclared ARG ${name}`).toBe(true);
    }
    for (const copy of ins.filter((i) => i.op === 'COPY' && i.args.includes('--from='))) {
      const ref = /--from=(\S+)/.exec(copy.args)![1];
      expect(stages.slice(0, copy.stage), `${file}: COPY --from=${ref} before that stage exists`).toContain(ref);
    }
    expect(new Set(stages.filter(Boolean)).size).toBe(stages.filter(Boolean).length);
  });

  it('every file copied from the context exists and is not excluded by .dockerignore', () => {
    const sources = ins.filter((i) => i.op === 'COPY' && !i.args.includes('--from=')).flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources) {
      expect(existsSync(join(ROOT, src)), `${file}: COPY ${src}: no such file in the repository`).toBe(true);
      const files = filesUnder(src);
      expect(files.length, `${file}: COPY ${src} copies nothing`).toBeGreaterThan(0);
      for (const f of files) expect(isIgnored(f), `${file}: COPY ${src}: ${f} is excluded by .dockerignore`).toBe(false);
    }
  });

  it('the final image runs as a non-root user, with a health check on /healthz, volumes and tini', () => {
    const last = Math.max(...ins.map((i) => i.stage));
    const final = ins.filter((i) => i.stage === last);
    expect(final.filter((i) => i.op === 'USER').at(-1)?.args).toBe('linesight');
    expect(final.find((i) => i.op === 'HEALTHCHECK')?.args).toMatch(/\/healthz/);
    expect(final.filter((i) => i.op === 'VOLUME').map((i) => i.args).join(' ')).toMatch(/\/var\/lib\/linesight.*\/etc\/linesight/);
    expect(final.find((i) => i.op === 'ENTRYPOINT')?.args).toMatch(/tini.*dist\/cli\.js/);
    expect(final.find((i) => i.op === 'CMD')?.args).toContain('/etc/linesight/line.yaml');
  });

  it('npm never runs the root prepare (tsc) before the source is copied', () => {
    const ciBeforeSource = ins.find((i) => i.op === 'RUN' && /npm ci/.test(i.args));
    expect(ciBeforeSource?.args).toMatch(/--ignore-scripts/);
  });
});

describe('Dockerfile.jetson specifics', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile.jetson'), 'utf8');

  it('pins JetPack, onnxruntime, Node and CMake', () => {
    expect(text).toMatch(/^ARG L4T_JETPACK_IMAGE=nvcr\.io\/nvidia\/l4t-jetpack:r36\.4\.0$/m);
    expect(text).toMatch(/^ARG ORT_VERSION=\d+\.\d+\.\d+$/m);
    expect(text).toMatch(/^ARG NODE_VERSION=20\.\d+\.\d+$/m);
    expect(text).toMatch(/^ARG CMAKE_VERSION=3\.\d+\.\d+$/m);
  });

  it('builds onnxruntime with the TensorRT and CUDA EPs and the Node binding, with the Jetson flags', () => {
    const build = /RUN \.\/build\.sh([^]*?)\n\n/.exec(text)?.[1] ?? '';
    for (const flag of ['--use_tensorrt', '--use_cuda', '--build_nodejs', '--skip_tests', '--allow_running_as_root', 'CMAKE_CUDA_ARCHITECTURES=87',
      '--parallel', '--nvcc_threads 1', '--tensorrt_home /usr/lib/aarch64-linux-gnu', '--cudnn_home /usr/lib/aarch64-linux-gnu', '--cuda_home /usr/local/cuda']) {
      expect(build, flag).toContain(flag);
    }
    for (const lib of ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_tensorrt.so']) expect(text).toContain(lib);
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
