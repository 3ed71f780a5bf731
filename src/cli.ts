#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { onlyCamerasDiffer, startLine, VERSION } from './app.js';
import type { Config } from './config/schema.js';
import { loadConfig, parseConfigText, validateConfig, applyEnvOverrides } from './config/load.js';
import { errorMessage, isLinesightError, LinesightError } from './errors.js';
import { createDetector } from './infer/detector.js';
import { readOnnxMetadata } from './infer/onnx-metadata.js';
import { BENCH_HELP } from './bench/options.js';
import { createLogger } from './log.js';
import { createProgressCheck } from './ops/progress.js';
import { createNotifier } from './ops/sd-notify.js';
import { formatAlerts, parseSince } from './store/alerts-cli.js';
import { openAggregateStore } from './store/aggregate-store.js';
import { openStore } from './store/index.js';
import { createSync, formatSyncResult, parseSchedule } from './sync/index.js';

const DEFAULT_CONFIG = 'config/default.yaml';


const HELP: Record<string, string> = {
  main: `linesight — real-time defect detection on factory-line cameras

Usage: linesight <command> [options]

Commands:
  run [--config FILE]        run the line (default ${DEFAULT_CONFIG}: the demo)
  check-config FILE          validate a configuration; every error with its key path
  inspect-model FILE         inputs, outputs, detected layout, class names, provider
  eval-model FILE --data DIR evaluate a model on a labelled image folder (mAP)
  sync --now [--config FILE] upload the per-minute statistics once
  alerts [--since 1h]        list stored alerts
  bench [options]            measure decode, model and pipeline rates on this box (JSON + table)

Run 'linesight <command> --help' for a command's options.`,
  run: `Usage: linesight run [--config FILE] [--pretty] [--log-level LEVEL]

Runs the line described by FILE (default ${DEFAULT_CONFIG}). Stops cleanly on SIGINT/SIGTERM.
  --config FILE      configuration file (YAML)
  --pretty           human-readable logs instead of JSON lines
  --log-level LEVEL  overrides log.level`,
  'check-config': `Usage: linesight check-config FILE

Validates FILE against the configuration schema. Prints every problem as
'key.path: expected …, received …' and exits 1, or a one-line summary and exits 0.`,
  'inspect-model': `Usage: linesight inspect-model FILE [--providers tensorrt,cuda,cpu] [--json]

Loads the ONNX model, runs it once, and prints its inputs, outputs, the output
layout linesight will decode, the class names and the execution provider used.`,
  sync: `Usage: linesight sync --now [--config FILE]

Runs the upload of per-minute statistics once (to sync.url, or as files into
sync.dir), prints what was sent and the backlog; exit 1 when the run failed.`,
  alerts: `Usage: linesight alerts [--since 1h] [--limit N] [--json] [--config FILE]

Lists the alerts stored in SQLite since a duration (90s, 30m, 1h, 2d) or an ISO
8601 time, oldest first, with whether each was sent.`,
  'eval-model': `Usage: linesight eval-model FILE --data DIR [--confidence 0.001] [--iou 0.6]

Runs the model through linesight's own inference stage on DIR/labels.json and its
images; prints per-class precision/recall, mAP@0.5 and mAP@0.5:0.95.`,
  bench: BENCH_HELP,
};

function fail(err: unknown): never {
  if (isLinesightError(err)) {
    process.stderr.write(`linesight: ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`linesight: ${errorMessage(err)}\n`);
  }
  process.exit(1);
}

async function cmdCheckConfig(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const file = positionals[0];
  if (!file) throw new LinesightError('E_CLI', 'Expected a configuration file: linesight check-config FILE');
  let raw: Record<string, unknown>;
  try {
    raw = applyEnvOverrides(parseConfigText(readFileSync(file, 'utf8'), file), process.env);
  } catch (err) {
    if (isLinesightError(err)) throw err;
    throw new LinesightError('E_CONFIG_READ', `${file}: expected a readable configuration file, ${errorMessage(err)}`);
  }
  const result = validateConfig(raw);
  if (result.problems.length > 0) {
    process.stderr.write(`${file}: ${result.problems.length} problem(s) (E_CONFIG)\n`);
    for (const p of result.problems) process.stderr.write(`  ${p.path}: ${p.message}\n`);
    return 1;
  }
  const cfg = loadConfig(file);
  const problems: string[] = [];
  try {
    parseSchedule(cfg.sync.schedule);
  } catch (err) {
    problems.push(errorMessage(err));
  }
  if (!existsSync(cfg.model.path)) problems.push(`model.path: expected an existing .onnx file, received ${JSON.stringify(cfg.model.path)} (no such file)`);
  if (problems.length > 0) {
    process.stderr.write(`${file}: ${problems.length} problem(s) (E_CONFIG)\n`);
    for (const p of problems) process.stderr.write(`  ${p}\n`);
    return 1;
  }
  const enabled = cfg.cameras.filter((c) => c.enabled).length;
  process.stdout.write(`${file}: valid — site ${cfg.site}, line ${cfg.line}, ${enabled} of ${cfg.cameras.length} camera(s) enabled, model ${cfg.model.path}, mqtt ${cfg.mqtt.url ?? `embedded :${cfg.mqtt.embedded_port}`}\n`);
  return 0;
}

async function cmdInspectModel(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args, allowPositionals: true,
    options: { providers: { type: 'string', default: 'cpu' }, json: { type: 'boolean', default: false } },
  });
  const file = positionals[0];
  if (!file) throw new LinesightError('E_CLI', 'Expected a model file: linesight inspect-model FILE');
  const providers = values.providers.split(',').map((p) => p.trim()) as Array<'tensorrt' | 'cuda' | 'cpu'>;
  const meta = readOnnxMetadata(file);
  const detector = await createDetector({ path: file, providers });
  const info = detector.info;
  await detector.close();
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...info, opset: meta.opset, producer: meta.producerName, inputs: meta.inputs, outputs: meta.outputs }, null, 2)}\n`);
    return 0;
  }
  const shape = (s: Array<number | string>) => `[${s.join(', ')}]`;
  const lines = [
    `model      ${info.name} (version ${info.version}), opset ${meta.opset}, producer ${meta.producerName || 'unknown'}`,
    ...meta.inputs.map((i) => `input      ${i.name} ${i.elemType} ${shape(i.shape)}`),
    ...meta.outputs.map((o) => `output     ${o.name} ${o.elemType} ${shape(o.shape)}`),
    `layout     ${info.layout === 'yolov8' ? 'YOLOv8/YOLO11 [batch, 4+classes, anchors]' : 'YOLOv5 [batch, anchors, 5+classes]'}`,
    `input size ${info.inputWidth}×${info.inputHeight}, ${info.dynamicBatch ? 'dynamic batch (frames of several cameras share one call)' : 'fixed batch 1'}`,
    `classes    ${info.classNames.map((n, i) => `${i}:${n}`).join(' ')}`,
    `provider   ${info.provider} (tried: ${providers.join(' ▸ ')})`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function cmdEvalModel(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args, allowPositionals: true,
    options: { data: { type: 'string' }, confidence: { type: 'string', default: '0.001' }, iou: { type: 'string', default: '0.6' }, threshold: { type: 'string', default: '0.25' } },
  });
  const file = positionals[0];
  if (!file || !values.data) throw new LinesightError('E_CLI', 'Expected a model and a data folder: linesight eval-model FILE --data DIR');
  // Loaded on demand: dataset reading is something the service itself never needs.
  const { evaluateDataset, formatEvaluation } = await import('./infer/evaluate.js');
  const detector = await createDetector({ path: file, providers: ['cpu'], confidence: Number(values.confidence), iou: Number(values.iou) });
  try {
    const result = await evaluateDataset(detector, values.data, { threshold: Number(values.threshold) });
    process.stdout.write(`${formatEvaluation(result)}\n`);
  } finally {
    await detector.close();
  }
  return 0;
}

async function cmdRun(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args, allowPositionals: false,
    options: { config: { type: 'string', default: DEFAULT_CONFIG }, pretty: { type: 'boolean', default: false }, 'log-level': { type: 'string' } },
  });
  const file = values.config;
  let config = loadConfig(file);
  const log = createLogger({ level: values['log-level'] ?? config.log.level, pretty: values.pretty });
  const notify = createNotifier(log);
  let line = await startLine(config, log);
  const statusText = () => {
    const cams = line.cameras();
    return `${cams.filter((c) => c.state === 'online').length}/${cams.length} cameras online, provider ${line.detector.info.provider}`;
  };
  // READY=1 once the line runs; WATCHDOG=1 only while frames are being inspected
  // (or no camera is online to inspect), so a hung inference loop gets restarted.
  notify.ready(statusText());
  notify.startWatchdog(createProgressCheck(() => line.cameras(), Math.max(20_000, config.ingest.stall_timeout * 1000)));
  const statusTimer = setInterval(() => notify.status(statusText()), 10_000);
  statusTimer.unref();
  log.info({ stage: 'app', site: config.site, line: config.line, cameras: config.cameras.length, provider: line.detector.info.provider, version: VERSION },
    'linesight running');

  // SIGHUP reloads the file: cameras change in place; anything else restarts the line
  // in-process. An invalid file is refused with every problem logged, and the running
  // configuration stays.
  let reloading: Promise<void> = Promise.resolve();
  const reload = () => {
    notify.reloading('reloading the configuration');
    reloading = reloading.then(async () => {
      let next: Config;
      try {
        next = loadConfig(file);
      } catch (err) {
        log.error({ stage: 'app', code: isLinesightError(err) ? err.code : undefined, err: errorMessage(err) },
          'reload refused: the new configuration is invalid; the running configuration stays');
        notify.ready(statusText());
        return;
      }
      try {
        if (onlyCamerasDiffer(config, next)) {
          await line.reconfigureCameras(next.cameras);
        } else {
          log.info({ stage: 'app' }, 'reload: settings beyond the camera list changed; restarting the line in-process');
          await line.stop();
          line = await startLine(next, log);
        }
        config = next;
      } catch (err) {
        log.error({ stage: 'app', code: isLinesightError(err) ? err.code : undefined, err: errorMessage(err) },
          'reload failed; restarting with the previous configuration');
        await line.stop().catch(() => undefined);
        line = await startLine(config, log);
      }
      notify.ready(statusText());
    });
  };
  process.on('SIGHUP', () => {
    log.info({ stage: 'app', file }, 'SIGHUP: reloading the configuration');
    reload();
  });

  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) {
        log.warn({ stage: 'app', signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ stage: 'app', signal }, 'shutting down');
      clearInterval(statusTimer);
      notify.stopping('stopping');
      notify.stop();
      const force = setTimeout(() => {
        log.error({ stage: 'app' }, 'shutdown took longer than 15 s; exiting (unsent alerts stay in the outbox)');
        process.exit(1);
      }, 15_000);
      force.unref();
      reloading.then(() => line.stop()).then(resolve, (err: unknown) => {
        log.error({ stage: 'app', err: errorMessage(err) }, 'error during shutdown');
        resolve();
      });
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
  log.info({ stage: 'app' }, 'stopped');
  await notify.idle();
  log.flush();
  return 0;
}

async function cmdSync(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { now: { type: 'boolean', default: false }, config: { type: 'string', default: DEFAULT_CONFIG } } });
  if (!values.now) throw new LinesightError('E_CLI', 'Expected --now: linesight sync --now (the schedule runs inside linesight run)');
  const config = loadConfig(values.config);
  const log = createLogger({ level: config.log.level, destination: 2 });
  const stats = openAggregateStore(config.store.path, log);
  const sync = createSync({ config: config.sync, site: config.site, line: config.line, store: stats, log, retentionDays: config.store.retention_days, version: VERSION });
  try {
    const result = await sync.runOnce();
    process.stdout.write(`${formatSyncResult(result, sync.status().destination)}\n`);
    return result.ok ? 0 : 1;
  } finally {
    await sync.stop();
    stats.close();
  }
}

async function cmdAlerts(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { since: { type: 'string', default: '24h' }, limit: { type: 'string', default: '10000' }, json: { type: 'boolean', default: false }, config: { type: 'string', default: DEFAULT_CONFIG } },
  });
  const config = loadConfig(values.config);
  const since = parseSince(values.since);
  const store = openStore(config.store.path, { outboxMaxRows: config.store.outbox_max_rows, outboxFullPolicy: config.store.outbox_full_policy }, createLogger({ level: 'warn', destination: 2 }));
  try {
    process.stdout.write(`${formatAlerts(store.recentAlerts({ since, limit: Number(values.limit) }), { since, json: values.json })}\n`);
  } finally {
    store.close();
  }
  return 0;
}

async function cmdBench(args: string[]): Promise<number> {
  const { benchCommand } = await import('./bench/index.js');
  return benchCommand(args);
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  bench: cmdBench,
  sync: cmdSync,
  alerts: cmdAlerts,
  run: cmdRun,
  'check-config': cmdCheckConfig,
  'inspect-model': cmdInspectModel,
  'eval-model': cmdEvalModel,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP.main}\n`);
    return command ? 0 : 1;
  }
  const handler = COMMANDS[command];
  if (!handler) throw new LinesightError('E_CLI', `Expected a command (${Object.keys(COMMANDS).join(', ')}) but received ${JSON.stringify(command)}; see linesight --help`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${HELP[command]}\n`);
    return 0;
  }
  try {
    return await handler(rest);
  } catch (err) {
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      throw new LinesightError('E_CLI', `${err.message}; see linesight ${command} --help`);
    }
    throw err;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, fail);
