import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { errorMessage, LinesightError } from '../errors.js';
import { DEFAULT_CONFIG } from './defaults.js';

/** Longest wait for the running line's answer. */
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * `linesight relearn CAMERA`: asks the running line (through its overlay port,
 * with its token) to learn CAMERA's health baseline again, after the camera
 * was re-aimed or refocused on purpose. Exit 1 when the line is not reachable
 * or refuses.
 */
export async function cmdRelearn(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { config: { type: 'string', default: DEFAULT_CONFIG } } });
  const camera = positionals[0];
  if (positionals.length !== 1 || !camera) {
    throw new LinesightError('E_CLI', `Expected one camera id: linesight relearn CAMERA [--config FILE], but received ${positionals.length} argument(s)`);
  }
  const config = loadConfig(values.config, process.env, { files: false });
  const { host, port, token } = config.overlay;
  const target = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${target}:${port}/api/cameras/${encodeURIComponent(camera)}/relearn`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
    });
  } catch (err) {
    throw new LinesightError('E_CLI', `Expected the running line to answer on ${url} but ${errorMessage(err)}; is linesight running with this config?`, { cause: err });
  }
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  if (res.status !== 202) {
    process.stderr.write(`linesight: the line refused (${res.status}): ${body.message ?? res.statusText}\n`);
    return 1;
  }
  process.stdout.write(`${camera}: learning its picture again from its next frames (blurred and moved are not judged meanwhile)\n`);
  return 0;
}
