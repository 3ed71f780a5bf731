import { stringify } from 'yaml';
import type { Label } from './types.js';

/**
 * One line of an Ultralytics label file: class index, then the box centre and
 * size as fractions of the picture (6 decimals, ~0.004 px on a 4K frame).
 *
 * @example
 * yoloLine({ classIndex: 2, box: { x: 100, y: 50, w: 40, h: 20 }, source: 'confirmed' }, 400, 200)
 * // '2 0.300000 0.300000 0.100000 0.100000'
 */
export function yoloLine(label: Label, width: number, height: number): string {
  const { x, y, w, h } = label.box;
  return [label.classIndex, (x + w / 2) / width, (y + h / 2) / height, w / width, h / height]
    .map((v, i) => (i === 0 ? String(v) : v.toFixed(6))).join(' ');
}

/** The label file of a picture: one line per label; empty for a picture without defects (a negative). */
export function yoloLabelFile(labels: readonly Label[], width: number, height: number): string {
  return labels.map((l) => `${yoloLine(l, width, height)}\n`).join('');
}

/**
 * `data.yaml` as Ultralytics reads it. No `path`: Ultralytics then takes the
 * folder of data.yaml as the dataset root, so the folder can be moved.
 */
export function dataYaml(classes: readonly string[]): string {
  // A Map keeps the ids numbers (`0: scratch`); object keys would be written as strings (`"0": scratch`).
  const names = new Map(classes.map((name, i) => [i, name]));
  return `# linesight dataset export (Ultralytics layout); class ids follow the model's class order\n${stringify({ train: 'images/train', val: 'images/val', nc: classes.length, names })}`;
}
