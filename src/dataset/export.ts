import { createHash } from 'node:crypto';
import { createReadStream, constants } from 'node:fs';
import { access, copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { isoTime } from '../clock.js';
import { LinesightError, errorMessage } from '../errors.js';
import { parseUltralyticsNames, readOnnxMetadata } from '../infer/onnx-metadata.js';
import { VERSION } from '../version.js';
import { buildPictures } from './build.js';
import { buildManifest, type ModelFacts, type WrittenPicture } from './manifest.js';
import { markExported, openReadOnly, readSources, storedCameras } from './read.js';
import { splitOf } from './split.js';
import { cocoDocument } from './write-coco.js';
import { dataYaml, yoloLabelFile } from './write-yolo.js';

export interface ExportOptions {
  storePath: string;
  picturesDir: string;
  out: string;
  since: number;
  until: number;
  cameras: readonly string[];
  /** Camera ids of the configuration (a camera only the store knows is accepted too). */
  configuredCameras: readonly string[];
  format: 'yolo' | 'coco';
  valShare: number;
  includeUnjudged: boolean;
  /** Replace the dataset already in `out`. */
  force: boolean;
  model: ModelFacts;
  now: number;
}

export interface ExportSummary {
  out: string;
  pictures: number;
  train: number;
  val: number;
  labels: number;
  needsReview: number;
  missingFiles: number;
  leftOutUnjudged: number;
}

/** What an export writes into its folder; `--force` removes these and nothing else. */
const OUTPUTS = ['images', 'labels', 'annotations', 'data.yaml', 'manifest.json', 'review.txt'];

/** The model's facts: class names (the config's `model.classes` wins, as in the detector), version, checksum. */
export async function modelFacts(path: string, classes?: readonly string[]): Promise<ModelFacts> {
  const meta = readOnnxMetadata(path);
  const names = classes ? [...classes] : meta.metadata.names ? parseUltralyticsNames(meta.metadata.names) : undefined;
  if (!names || names.length === 0) {
    throw new LinesightError('E_DATASET', `Expected class names in ${path}'s metadata ("names") or in model.classes but found none: the dataset's class ids must follow the model's`);
  }
  return { file: basename(path), name: basename(path, extname(path)), version: meta.metadata.version ?? null, sha256: await sha256File(path), classes: names };
}

/**
 * Exports the period's pictures as a dataset: reads the store (read-only),
 * builds the labels, splits, copies the pictures, writes the labels in the
 * chosen format with manifest.json and review.txt, and then stamps the
 * exported pictures' `exported_at`.
 */
export async function exportDataset(o: ExportOptions): Promise<ExportSummary> {
  const period = `between ${isoTime(o.since)} and ${isoTime(o.until)}`;
  const db = openReadOnly(o.storePath);
  let read: ReturnType<typeof readSources>;
  try {
    const known = new Set([...o.configuredCameras, ...storedCameras(db)]);
    const unknown = o.cameras.filter((c) => !known.has(c));
    if (unknown.length > 0) {
      throw new LinesightError('E_CLI', `--camera: expected a camera of this line (${[...known].sort().join(', ') || 'none'}) but received ${unknown.map((c) => JSON.stringify(c)).join(', ')}`);
    }
    read = readSources(db, o);
  } finally {
    db.close();
  }
  const cameraText = o.cameras.length ? ` on ${o.cameras.join(', ')}` : '';
  if (read.sources.length === 0) throw new LinesightError('E_DATASET', `Expected pictures to export but found no pictures ${period}${cameraText}`);

  const { pictures, skipped } = buildPictures(read.sources, o.model.classes, { includeUnjudged: o.includeUnjudged });
  const present: typeof pictures = [];
  const missingFiles: string[] = [];
  for (const p of pictures) {
    if (await isFile(join(o.picturesDir, p.picture.file))) present.push(p);
    else missingFiles.push(p.picture.file);
  }
  if (present.length === 0) {
    throw new LinesightError('E_DATASET', `Expected pictures to export but none of the ${read.sources.length} pictures ${period}${cameraText} can go in: `
      + `${skipped.unjudged} on alerts without a verdict (--include-unjudged adds them), ${missingFiles.length} with a missing file in ${o.picturesDir}`);
  }

  await prepareOut(o.out, o.force);
  const written: WrittenPicture[] = [];
  for (const split of ['train', 'val'] as const) {
    await mkdir(join(o.out, 'images', split), { recursive: true });
    if (o.format === 'yolo') await mkdir(join(o.out, 'labels', split), { recursive: true });
  }
  for (const built of present) {
    const split = splitOf(built.picture.id, o.valShare);
    const stem = `${safeName(built.picture.camera)}_${safeName(built.picture.id)}`;
    const image = `images/${split}/${stem}${extname(built.picture.file) || '.jpg'}`;
    await copyFile(join(o.picturesDir, built.picture.file), join(o.out, image));
    if (o.format === 'yolo') await writeFile(join(o.out, 'labels', split, `${stem}.txt`), yoloLabelFile(built.labels, built.picture.width, built.picture.height));
    written.push({ built, split, image });
  }
  if (o.format === 'yolo') {
    await writeFile(join(o.out, 'data.yaml'), dataYaml(o.model.classes));
  } else {
    await mkdir(join(o.out, 'annotations'), { recursive: true });
    for (const split of ['train', 'val'] as const) {
      const refs = written.filter((w) => w.split === split).map((w) => ({ built: w.built, fileName: basename(w.image) }));
      const doc = cocoDocument(refs, o.model.classes, `linesight dataset export ${period}, ${split} split (images/${split})`);
      await writeFile(join(o.out, 'annotations', `instances_${split}.json`), `${JSON.stringify(doc)}\n`);
    }
  }
  const manifest = buildManifest({
    format: o.format, model: o.model, since: o.since, until: o.until, cameras: o.cameras, valShare: o.valShare, includeUnjudged: o.includeUnjudged,
    written, skipped, missingFiles, missedWithoutPicture: read.missedWithoutPicture, createdAt: o.now, version: VERSION,
  });
  await writeFile(join(o.out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const review = written.filter((w) => w.built.needsReview);
  await writeFile(join(o.out, 'review.txt'), review.map((w) => `${w.image}\n`).join(''));
  markExported(o.storePath, written.map((w) => w.built.picture.id), o.now);
  return {
    out: o.out,
    pictures: written.length,
    train: written.filter((w) => w.split === 'train').length,
    val: written.filter((w) => w.split === 'val').length,
    labels: written.reduce((n, w) => n + w.built.labels.length, 0),
    needsReview: review.length,
    missingFiles: missingFiles.length,
    leftOutUnjudged: skipped.unjudged,
  };
}

/** An empty or new folder we can write to; with `force`, a folder whose earlier export is removed first. */
async function prepareOut(out: string, force: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    entries = await readdir(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new LinesightError('E_DATASET', `--out: expected a folder to write the dataset in but ${out} cannot be read: ${errorMessage(err)}`, { cause: err });
    }
  }
  if (entries.length > 0 && !force) {
    throw new LinesightError('E_DATASET', `--out: expected an empty or new folder but ${out} holds ${entries.length} entries (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); choose another folder, or --force to replace the dataset in it`);
  }
  try {
    if (force) for (const name of OUTPUTS) await rm(join(out, name), { recursive: true, force: true });
    await mkdir(out, { recursive: true });
    await access(out, constants.W_OK);
  } catch (err) {
    throw new LinesightError('E_DATASET', `--out: expected a folder the dataset can be written to but ${out} is not writable: ${errorMessage(err)}`, { cause: err });
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    // A missing picture is counted and reported; any other failure to read the folder is the operator's to see.
    if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return false;
    throw new LinesightError('E_DATASET', `Expected to read picture ${path} but failed: ${errorMessage(err)}`, { cause: err });
  }
}

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_');
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
