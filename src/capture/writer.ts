import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { NewPicture, PictureReason } from '../store/pictures.js';
import type { Picture } from '../types.js';

/** A picture already encoded (a recent frame kept for missed defects). */
export interface EncodedPicture {
  jpeg: Buffer;
  width: number;
  height: number;
}

/** A picture to keep: its pixels (a share held by the job) or its JPEG, and its row, less what the writer learns. */
export interface PictureJob {
  picture: Picture | EncodedPicture;
  row: Omit<NewPicture, 'file' | 'bytes' | 'width' | 'height' | 'createdAt'>;
}

function isEncoded(p: Picture | EncodedPicture): p is EncodedPicture {
  return 'jpeg' in p;
}

/**
 * Pictures already encoded (frames drawn on from the recall memory) waiting at
 * most. They hold no camera buffer and cost no encode, only their JPEG's memory,
 * so they are not bounded by `queue`: an operator drawing a dozen missed
 * defects in a row must not lose the pictures of the last ones.
 */
export const ENCODED_WAITING_MAX = 64;

export type DropReason = 'queue_full' | 'low_disk' | 'shutdown';
export type FailReason = 'encode' | 'write' | 'record';

export interface WriterDeps {
  /** The pictures folder. */
  dir: string;
  /** JPEG quality, 1–100. */
  quality: number;
  /** Jobs holding a camera's picture waiting at most (the one being encoded not counted; encoded pictures wait apart). */
  queue: number;
  /** Records the row once its file is written; throws when the store refuses. */
  record(picture: NewPicture): void;
  /** A picture of `bytes` was kept (the quota keeper counts it). */
  kept(bytes: number): void;
  /** True while the disk is low or full: jobs are then dropped before they cost an encode. */
  diskLow(): boolean;
  clock: Clock;
  log: Logger;
}

export interface WriterCounts {
  written: Map<PictureReason, number>;
  dropped: Map<DropReason, number>;
  failed: Map<FailReason, number>;
  /** Milliseconds spent encoding, and the pictures encoded: their ratio is the encode cost. */
  encodeMs: number;
  encoded: number;
}

/**
 * Writes kept pictures as JPEG files and records them, one at a time, off the
 * inference path: sharp encodes on libuv's thread pool and the file is written
 * asynchronously, so the event loop only hands buffers over. The queue of
 * camera pictures is bounded (`queue`, and `ENCODED_WAITING_MAX` for pictures
 * already encoded): when it is full a new job is dropped and counted (an alert
 * or a missed defect first pushes out the oldest policy capture waiting). A failed
 * encode, write or record loses that picture only (counted, logged once until
 * a picture gets through again); alerts never wait for any of it.
 */
export class PictureWriter {
  private readonly waiting: PictureJob[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly dirs = new Set<string>();
  private failing: FailReason | null = null;
  private warnedFull = false;
  readonly counts: WriterCounts = { written: new Map(), dropped: new Map(), failed: new Map(), encodeMs: 0, encoded: 0 };

  constructor(private readonly deps: WriterDeps) {}

  /** Takes the job (and the picture's share it holds); false when it was dropped (the share is given back). */
  enqueue(job: PictureJob): boolean {
    if (this.closed) return this.drop(job, 'shutdown');
    if (this.deps.diskLow()) return this.drop(job, 'low_disk');
    const encoded = isEncoded(job.picture);
    const alike = this.waiting.filter((j) => isEncoded(j.picture) === encoded);
    if (alike.length >= (encoded ? ENCODED_WAITING_MAX : this.deps.queue)) {
      const victim = job.row.kind === 'capture' ? -1 : this.waiting.findIndex((j) => j.row.kind === 'capture' && isEncoded(j.picture) === encoded);
      if (victim < 0) return this.drop(job, 'queue_full');
      this.drop(this.waiting.splice(victim, 1)[0], 'queue_full');
    }
    this.waiting.push(job);
    this.running ??= this.drain();
    return true;
  }

  /** Jobs waiting, not counting the one being encoded. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Takes no more pictures (counted as `shutdown`) and writes those waiting: at most `queue` encodes, a fraction of a second. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }

  private async drain(): Promise<void> {
    for (let job = this.waiting.shift(); job; job = this.waiting.shift()) await this.write(job);
    this.running = null;
  }

  private async write(job: PictureJob): Promise<void> {
    const { picture, row } = job;
    const { width, height } = picture;
    let jpeg: Buffer;
    if (isEncoded(picture)) jpeg = picture.jpeg;
    else {
      try {
        const started = this.deps.clock.monotonic();
        jpeg = await sharp(picture.rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: this.deps.quality }).toBuffer();
        this.counts.encodeMs += this.deps.clock.monotonic() - started;
        this.counts.encoded++;
      } catch (err) {
        return this.fail('encode', row, err);
      } finally {
        picture.release();
      }
    }
    const day = new Date(row.ts).toISOString().slice(0, 10);
    const file = `${row.camera}/${day}/${row.id}.jpg`;
    const path = join(this.deps.dir, file);
    try {
      const folder = join(this.deps.dir, row.camera, day);
      if (!this.dirs.has(folder)) {
        await mkdir(folder, { recursive: true });
        this.dirs.add(folder);
      }
      await writeFile(path, jpeg);
    } catch (err) {
      this.dirs.clear(); // a folder may have been removed under us
      await rm(path, { force: true }).catch(() => undefined); // a partial file of a full disk: nothing to keep
      return this.fail('write', row, err);
    }
    try {
      this.deps.record({ ...row, file, width, height, bytes: jpeg.length, createdAt: this.deps.clock.now() });
    } catch (err) {
      // No row, no file: a file nobody lists would escape the quota.
      await rm(path, { force: true }).catch((rmErr: unknown) =>
        this.deps.log.warn({ stage: 'capture', camera: row.camera, code: 'E_PICTURE', err: errorMessage(rmErr), file }, 'could not remove the file of an unrecorded picture'));
      return this.fail('record', row, err);
    }
    this.counts.written.set(row.reason, (this.counts.written.get(row.reason) ?? 0) + 1);
    this.deps.kept(jpeg.length);
    if (this.failing) {
      this.deps.log.info({ stage: 'capture', camera: row.camera }, 'pictures are kept again');
      this.failing = null;
    }
  }

  private fail(reason: FailReason, row: PictureJob['row'], err: unknown): void {
    this.counts.failed.set(reason, (this.counts.failed.get(reason) ?? 0) + 1);
    if (this.failing === reason) return;
    this.failing = reason;
    this.deps.log.warn({ stage: 'capture', camera: row.camera, code: 'E_PICTURE', err: errorMessage(err), kind: row.kind, step: reason },
      `could not ${reason} a picture kept for training; it is skipped, alerts are not affected (logged once until pictures are kept again)`);
  }

  private drop(job: PictureJob, reason: DropReason): false {
    if (!isEncoded(job.picture)) job.picture.release();
    this.counts.dropped.set(reason, (this.counts.dropped.get(reason) ?? 0) + 1);
    if (reason === 'queue_full' && !this.warnedFull) {
      this.warnedFull = true;
      this.deps.log.warn({ stage: 'capture', camera: job.row.camera, code: 'E_PICTURE', queue: this.deps.queue },
        'picture queue full: pictures are dropped and counted (linesight_pictures_dropped_total); logged once');
    }
    return false;
  }
}
