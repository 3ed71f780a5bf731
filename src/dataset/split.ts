import { createHash } from 'node:crypto';
import type { Split } from './types.js';

/**
 * The split of a picture, from its id alone: the first 32 bits of SHA-256(id)
 * as a fraction of 2^32, below `valShare` → val. The same picture lands in the
 * same split in every export, whatever else the period holds, so a later
 * export never moves a validation picture into training.
 *
 * @example
 * splitOf('0193a1b2-0000-7000-8000-000000000001', 0.2) // 'train' or 'val', always the same
 */
export function splitOf(id: string, valShare: number): Split {
  return hashFraction(id) < valShare ? 'val' : 'train';
}

/** SHA-256 of the UTF-8 text, first four bytes big-endian, over 2^32: in [0, 1). */
export function hashFraction(text: string): number {
  return createHash('sha256').update(text, 'utf8').digest().readUInt32BE(0) / 2 ** 32;
}
