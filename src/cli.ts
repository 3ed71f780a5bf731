#!/usr/bin/env node
import { errorMessage, isLinesightError, LinesightError } from './errors.js';
import { BENCH_HELP } from './bench/options.js';
import { cmdAlerts } from './commands/alerts.js';
import { cmdCheckConfig } from './commands/check-config.js';
import { cmdContext } from './commands/context.js';
import { cmdRecipe } from './commands/recipe.js';
import { cmdDataset, DATASET_HELP } from './commands/dataset.js';
import { DEFAULT_CONFIG } from './commands/defaults.js';
import { cmdEvalModel } from './commands/eval-model.js';
import { cmdInspectModel } from './commands/inspect-model.js';
import { cmdModels, MODELS_HELP } from './commands/models.js';
import { cmdRelearn } from './commands/relearn.js';
import { cmdRun } from './commands/run.js';
import { cmdSync } from './commands/sync.js';
import { VERSION } from './version.js';

const HELP: Record<string, string> = {
  main: `linesight — real-time defect detection on factory-line cameras

Usage: linesight <command> [options]

Commands:
  run [--config FILE]        run the line (default ${DEFAULT_CONFIG}: the demo)
  check-config FILE          validate a configuration; every error with its key path
  inspect-model FILE         inputs, outputs, detected layout, class names, provider
  models add|list|promote|rollback|shadow|compare
                             models on this box; change the running line's model without stopping it
  eval-model FILE --data DIR evaluate a model on a labelled image folder (mAP)
  sync --now [--config FILE] upload the per-minute statistics once
  alerts [--since 1h]        list stored alerts
  relearn CAMERA             have the running line learn a camera's picture again (after re-aiming it)
  context set|show           the line's production context (order, lot, …) without an MES
  recipe set NAME|show       select the line's recipe without an MES
  dataset export --out DIR   kept pictures and operator verdicts as a YOLO or COCO training dataset
  bench [options]            measure decode, model and pipeline rates on this box (JSON + table)

Options:
  --version                  print the version
  --help                     this text

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
  alerts: `Usage: linesight alerts [--since 1h] [--limit N] [--json] [--by lot|order|recipe] [--config FILE]

Lists the alerts stored in SQLite since a duration (90s, 30m, 1h, 2d) or an ISO
8601 time, oldest first, with whether each was sent. With --by: one line per
lot, order or recipe instead, with its alerts per class (by the stamp each alert
carries) and the frames inspected under it (each minute of the statistics
counted under what was in force at its middle).`,
  'eval-model': `Usage: linesight eval-model FILE --data DIR [--confidence 0.001] [--iou 0.6]

Runs the model through linesight's own inference stage on DIR/labels.json and its
images; prints per-class precision/recall, mAP@0.5 and mAP@0.5:0.95.`,
  relearn: `Usage: linesight relearn CAMERA [--config FILE]

Asks the running line (on its overlay port, with overlay.token) to learn
CAMERA's health baseline again from its next frames: after a camera was
re-aimed or refocused on purpose, so it is no longer reported as moved or
blurred. Exit 1 when the line cannot be reached or refuses.`,
  context: `Usage: linesight context set [--order O] [--lot L] [--part-id P] [--product X] [--shift S]
                         [--operator N] [--extra JSON] [--ts ISO] [--config FILE]
       linesight context show [--history N] [--json] [--config FILE]

set: records the line's production context (for lines without an MES) in its
database: the running line stamps it on alerts from --ts (default now) on,
within a second; a line started later loads it. Fields left out are not set.
show: the context in force and the last N changes (MES and command line).`,
  recipe: `Usage: linesight recipe set NAME [--by WHO] [--wait 10] [--config FILE]
       linesight recipe show [--config FILE]

set: asks the running line to switch to recipe NAME (thresholds, regions and
model of recipes.NAME) and waits for its answer; exit 1 when it refuses. With
no line running, the line applies it at its next start.
show: the active recipe and the configured ones.`,
  bench: BENCH_HELP,
  models: MODELS_HELP,
  dataset: DATASET_HELP,
};

function fail(err: unknown): never {
  if (isLinesightError(err)) {
    process.stderr.write(`linesight: ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`linesight: ${errorMessage(err)}\n`);
  }
  process.exit(1);
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
  models: cmdModels,
  'eval-model': cmdEvalModel,
  relearn: cmdRelearn,
  context: cmdContext,
  recipe: cmdRecipe,
  dataset: cmdDataset,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`linesight ${VERSION}\n`);
    return 0;
  }
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
