import { parseArgs } from 'node:util';
import { picturesDir } from '../capture/config.js';
import { loadConfig } from '../config/load.js';
import { describeValue, LinesightError } from '../errors.js';
import { parseSince } from './alerts-format.js';
import { DEFAULT_CONFIG } from './defaults.js';
import { unitValue } from './values.js';

export const DATASET_HELP = `Usage: linesight dataset export --out DIR [--since 7d|ISO] [--until ISO] [--camera ID ...]
                                [--format yolo|coco] [--val-share 0.2] [--include-unjudged] [--force] [--config FILE]

Turns the pictures the line kept (alert frames, frames with missed defects, captured
frames) and the operators' verdicts into a training dataset for the model in the config:
  yolo  images/{train,val}, labels/{train,val} (class cx cy w h, normalised), data.yaml
  coco  images/{train,val}, annotations/instances_{train,val}.json
Confirmed alerts and missed boxes are labels; a false alarm leaves its box out (a hard
negative). Pre-labels of captured pictures, and detections nobody judged, go in too:
those pictures are listed in review.txt and flagged needs_review in manifest.json.
Alert pictures with no verdict on their frame are left out unless --include-unjudged.
The split is fixed per picture (a hash of its id). Exported pictures are marked, so the
capture quota deletes them first.
  --out DIR            an empty or new folder (--force replaces an earlier export in it)
  --since, --until     the pictures' capture times: a duration back from now (90s, 30m, 1h, 2d)
                       or an ISO 8601 time; default: everything up to now
  --camera ID          only this camera (repeatable)
  --val-share 0.2      share of pictures in the val split`;

/** `linesight dataset export`: the kept pictures and verdicts as a YOLO or COCO dataset. */
export async function cmdDataset(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'export') throw new LinesightError('E_CLI', `Expected a dataset subcommand (export) but received ${describeValue(sub)}; see linesight dataset --help`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      camera: { type: 'string', multiple: true, default: [] },
      format: { type: 'string', default: 'yolo' },
      'val-share': { type: 'string', default: '0.2' },
      'include-unjudged': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      config: { type: 'string', default: DEFAULT_CONFIG },
    },
  });
  if (positionals.length > 0) throw new LinesightError('E_CLI', `Expected only options after "dataset export" but received ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  if (!values.out) throw new LinesightError('E_CLI', '--out: expected the folder to write the dataset in; see linesight dataset --help');
  const format = values.format;
  if (format !== 'yolo' && format !== 'coco') throw new LinesightError('E_CLI', `--format: expected yolo or coco, received ${describeValue(format)}`);
  const valShare = unitValue(values['val-share'], '--val-share');
  const now = Date.now();
  const since = values.since === undefined ? 0 : parseSince(values.since, now);
  const until = values.until === undefined ? now + 1 : parseSince(values.until, now);
  if (until <= since) throw new LinesightError('E_CLI', `Expected --until after --since but received ${values.until} and ${values.since ?? 'the beginning'}`);

  const config = loadConfig(values.config, process.env, { files: false });
  // Loaded on demand: the service itself never exports.
  const { exportDataset, modelFacts } = await import('../dataset/export.js');
  const model = await modelFacts(config.model.path, config.model.classes);
  const s = await exportDataset({
    storePath: config.store.path, picturesDir: picturesDir(config), out: values.out, since, until, cameras: values.camera,
    configuredCameras: config.cameras.map((c) => c.id), format, valShare, includeUnjudged: values['include-unjudged'], force: values.force, model, now,
  });
  const lines = [
    `wrote ${s.pictures} pictures (${s.train} train, ${s.val} val) with ${s.labels} labels to ${s.out} (${format}, classes of ${model.file})`,
    `${s.needsReview} pictures need review (review.txt)`,
  ];
  if (s.leftOutUnjudged > 0) lines.push(`${s.leftOutUnjudged} pictures without a verdict left out: alerts nobody judged, missed defects taken back (--include-unjudged adds them for review)`);
  if (s.missingFiles > 0) lines.push(`${s.missingFiles} pictures left out: their file is missing (listed in manifest.json)`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
