import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { describeValue, errorMessage, LinesightError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

/** One problem with a configuration, addressed by its key path. */
export interface ConfigProblem {
  /** `cameras[1].fps` */
  path: string;
  message: string;
}

/**
 * Secrets and deployment-specific values may come from the environment (a systemd
 * EnvironmentFile, a container's env) instead of the YAML file. The environment wins.
 */
const ENV_OVERRIDES: ReadonlyArray<[string, readonly string[]]> = [
  ['LINESIGHT_MQTT_URL', ['mqtt', 'url']],
  ['LINESIGHT_MQTT_USERNAME', ['mqtt', 'username']],
  ['LINESIGHT_MQTT_PASSWORD', ['mqtt', 'password']],
  ['LINESIGHT_OVERLAY_TOKEN', ['overlay', 'token']],
  ['LINESIGHT_OVERLAY_OPERATOR_TOKEN', ['overlay', 'operator_token']],
  ['LINESIGHT_SYNC_URL', ['sync', 'url']],
  ['LINESIGHT_SYNC_TOKEN', ['sync', 'token']],
  ['LINESIGHT_STORE_PATH', ['store', 'path']],
  ['LINESIGHT_LOG_LEVEL', ['log', 'level']],
];

/** `['cameras', 1, 'fps']` → `cameras[1].fps` */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

function formatIssue(issue: z.core.$ZodIssue): ConfigProblem[] {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      path: path === '(top level)' ? key : `${path}.${key}`,
      message: 'unknown key (check the spelling; unknown keys are errors)',
    }));
  }
  if (issue.code === 'invalid_value' && 'values' in issue) {
    const allowed = issue.values.map((v) => JSON.stringify(v)).join(', ');
    return [{ path, message: `expected one of ${allowed}, received ${describeValue(issue.input)}` }];
  }
  const message = issue.message.startsWith('expected') ? issue.message : `expected ${issue.message}`;
  return [{ path, message: `${message}, received ${describeValue(issue.input)}` }];
}

/** Validates an already-parsed object. Returns the frozen config or every problem found. */
export function validateConfig(raw: unknown): { config: Config; problems: [] } | { config?: undefined; problems: ConfigProblem[] } {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (result.success) return { config: deepFreeze(result.data), problems: [] };
  return { problems: result.error.issues.flatMap(formatIssue) };
}

export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  for (const [name, [section, key]] of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const current = out[section];
    const sectionObj = current !== null && typeof current === 'object' && !Array.isArray(current) ? { ...(current as object) } : {};
    (sectionObj as Record<string, unknown>)[key] = value;
    out[section] = sectionObj;
  }
  return out;
}

/** Paths in the file are relative to the file, so a config works from any working directory. */
function resolvePaths(config: Config, baseDir: string): Config {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const fileUrl = (url: string) => {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
      return url.startsWith('file://') ? abs(decodeURIComponent(url.slice('file://'.length))) : url;
    }
    return abs(url);
  };
  return {
    ...config,
    cameras: config.cameras.map((c) => ({ ...c, url: fileUrl(c.url) })),
    model: {
      ...config.model,
      path: abs(config.model.path),
      tensorrt: { ...config.model.tensorrt, engine_cache_dir: config.model.tensorrt.engine_cache_dir && abs(config.model.tensorrt.engine_cache_dir) },
      ...(config.model.store_dir === undefined ? {} : { store_dir: abs(config.model.store_dir) }),
      // A candidate is a version or hash, or else a file (a name ending in .onnx).
      ...(config.model.candidate === undefined ? {} : { candidate: /\.onnx$/i.test(config.model.candidate) ? abs(config.model.candidate) : config.model.candidate }),
    },
    // A recipe's model, like the candidate: a version or hash, or a file (a name ending in .onnx).
    recipes: Object.fromEntries(Object.entries(config.recipes).map(([n, r]) => [n, r.model !== undefined && /\.onnx$/i.test(r.model) ? { ...r, model: abs(r.model) } : r])),
    store: { ...config.store, path: abs(config.store.path) },
    sync: { ...config.sync, dir: abs(config.sync.dir) },
    capture: { ...config.capture, ...(config.capture.dir === undefined ? {} : { dir: abs(config.capture.dir) }) },
    mqtt: config.mqtt.tls
      ? {
          ...config.mqtt,
          tls: {
            ...config.mqtt.tls,
            ca: config.mqtt.tls.ca && abs(config.mqtt.tls.ca),
            cert: config.mqtt.tls.cert && abs(config.mqtt.tls.cert),
            key: config.mqtt.tls.key && abs(config.mqtt.tls.key),
          },
        }
      : config.mqtt,
  };
}

/** Reads YAML text into a plain object, or throws E_CONFIG_READ naming the line. */
export function parseConfigText(text: string, file: string): Record<string, unknown> {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new LinesightError('E_CONFIG_READ', `${file}: expected YAML, found a syntax error: ${first.message}`);
  }
  const value: unknown = doc.toJS();
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new LinesightError('E_CONFIG_READ', `${file}: expected a YAML mapping at the top level, found ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Files the configuration names that must exist before anything opens: the
 * model and the broker's TLS files. `run` and `check-config` ask the same
 * question, so a file that passes `check-config` starts.
 */
export function fileProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const want = (path: string, value: string | undefined, what: string) => {
    if (value !== undefined && !existsSync(value)) problems.push({ path, message: `expected ${what}, received ${JSON.stringify(value)} (no such file)` });
  };
  want('model.path', config.model.path, 'an existing .onnx file');
  want('mqtt.tls.ca', config.mqtt.tls?.ca, 'an existing PEM file');
  want('mqtt.tls.cert', config.mqtt.tls?.cert, 'an existing PEM file');
  want('mqtt.tls.key', config.mqtt.tls?.key, 'an existing PEM file');
  return problems;
}

export interface LoadOptions {
  /** Check that the files the configuration names exist (`fileProblems`); default true. Commands that only read the database skip it. */
  files?: boolean;
}

/**
 * Loads, validates and freezes a configuration file. Throws a LinesightError
 * (`E_CONFIG_READ` or `E_CONFIG` with every problem in `details.problems`).
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LinesightError('E_CONFIG_READ', `${file}: expected a readable configuration file, ${errorMessage(err)}`, { cause: err });
  }
  const raw = applyEnvOverrides(parseConfigText(text, file), env);
  const result = validateConfig(raw);
  if (result.problems.length > 0) throw configError(file, result.problems);
  const config = deepFreeze(resolvePaths(result.config as Config, dirname(resolve(file))));
  const missing = options.files === false ? [] : fileProblems(config);
  if (missing.length > 0) throw configError(file, missing);
  return config;
}

function configError(file: string, problems: ConfigProblem[]): LinesightError {
  const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
  return new LinesightError('E_CONFIG', `${file}: ${problems.length} problem(s)\n${lines}`, { details: { problems } });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
