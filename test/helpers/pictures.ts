import { PicturePool } from '../../src/ingest/picture-pool.js';
import type { Picture } from '../../src/types.js';

const pools = new Map<number, PicturePool>();

/**
 * A full-size picture made the way a camera makes one: its pixels copied into
 * a buffer of the real `PicturePool`, with one share, the caller's (release it
 * once handed on, as the camera does after emitting).
 */
export function makePicture(of: { camera: string; seq: number; captureTs: number; width: number; height: number }, rgb: Buffer): Picture {
  let pool = pools.get(rgb.length);
  if (!pool) {
    pool = new PicturePool(rgb.length, 8);
    pools.set(rgb.length, pool);
  }
  const buf = pool.acquire();
  rgb.copy(buf);
  return pool.share(buf, of);
}
