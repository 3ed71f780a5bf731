import { parseArgs } from 'node:util';
import { onlyCamerasDiffer, startLine, type Line } from '../app.js';
import { loadConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { createProgressCheck } from '../ops/progress.js';
import { createNotifier, type Notifier } from '../ops/sd-notify.js';
import { LineSupervisor } from '../ops/supervisor.js';
import { VERSION } from '../version.js';
import { DEFAULT_CONFIG } from './defaults.js';
import { systemClock } from '../clock.js';

/** Longest clean shutdown before the process exits anyway (unsent alerts stay in the outbox). */
const SHUTDOWN_LIMIT_MS = 15_000;
const STATUS_EVERY_MS = 10_000;
/** Longest a model load keeps the watchdog fed on its own (a TensorRT engine build on a Jetson Nano takes up to about 15 minutes). */
const MODEL_LOAD_LIMIT_MS = 30 * 60_000;

function statusText(line: Line | undefined): string {
  if (!line) return 'no line running';
  const cams = line.cameras();
  const loading = line.models.loading();
  const model = loading ? `, loading candidate model ${loading.path}` : '';
  return `${cams.filter((c) => c.state === 'online').length}/${cams.length} cameras online, provider ${line.detector.info.provider}${model}`;
}

/** Resolves once SIGINT or SIGTERM has stopped the line; a second signal exits at once. */
function untilSignalled(supervisor: LineSupervisor<Line>, notify: Notifier, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) {
        log.warn({ stage: 'app', signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ stage: 'app', signal }, 'shutting down');
      notify.stopping('stopping');
      notify.stop();
      systemClock.setTimeout(() => {
        log.error({ stage: 'app' }, `shutdown took longer than ${SHUTDOWN_LIMIT_MS / 1000} s; exiting (unsent alerts stay in the outbox)`);
        process.exit(1);
      }, SHUTDOWN_LIMIT_MS);
      supervisor.stop().then(() => resolve(0), (err: unknown) => {
        log.error({ stage: 'app', err: errorMessage(err) }, 'the line did not stop cleanly');
        resolve(1);
      });
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
}

/**
 * `linesight run`: starts the line, tells systemd (READY, WATCHDOG while frames
 * are inspected, STATUS), reloads on SIGHUP and stops on SIGINT/SIGTERM.
 */
export async function cmdRun(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args, allowPositionals: false,
    options: { config: { type: 'string', default: DEFAULT_CONFIG }, pretty: { type: 'boolean', default: false }, 'log-level': { type: 'string' } },
  });
  const file = values.config;
  const first = loadConfig(file);
  const log = createLogger({ level: values['log-level'] ?? first.log.level, pretty: values.pretty });
  const notify = createNotifier(log);
  let fatal: unknown;
  const supervisor = await LineSupervisor.start<Line>({
    load: () => loadConfig(file),
    start: (config) => startLine(config, log),
    onlyCamerasDiffer,
    log,
    reloading: () => notify.reloading('reloading the configuration'),
    reloaded: () => notify.ready(statusText(supervisor.line)),
    fatal: (err) => {
      fatal = err;
      process.kill(process.pid, 'SIGTERM');
    },
  });
  const config = supervisor.configuration;
  notify.ready(statusText(supervisor.line));
  // WATCHDOG=1 only while frames are being inspected (or no camera is online), so a hung inference loop gets restarted.
  const progressing = createProgressCheck(() => supervisor.line?.cameras() ?? [], Math.max(20_000, config.ingest.stall_timeout * 1000));
  // A candidate model loading (a TensorRT engine build can take minutes on a Jetson) is progress, up to MODEL_LOAD_LIMIT_MS.
  const loadingModel = () => {
    const since = supervisor.line?.models.loading()?.since;
    return since !== undefined && systemClock.now() - since < MODEL_LOAD_LIMIT_MS;
  };
  notify.startWatchdog(() => progressing() || loadingModel());
  const statusTimer = systemClock.setInterval(() => notify.status(statusText(supervisor.line)), STATUS_EVERY_MS);
  log.info({ stage: 'app', site: config.site, line: config.line, cameras: config.cameras.length, provider: supervisor.line?.detector.info.provider, version: VERSION },
    'linesight running');
  process.on('SIGHUP', () => {
    log.info({ stage: 'app', file }, 'SIGHUP: reloading the configuration');
    void supervisor.reload();
  });
  const code = await untilSignalled(supervisor, notify, log);
  systemClock.clearInterval(statusTimer);
  log.info({ stage: 'app' }, 'stopped');
  await notify.idle();
  log.flush();
  return fatal === undefined ? code : 1;
}
