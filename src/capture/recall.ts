import sharp from 'sharp';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PictureDetection } from '../store/pictures.js';
import type { ModelRef, Picture } from '../types.js';

/** A recent frame kept as a JPEG, for a missed defect drawn on it later. */
export interface RecalledPicture {
  seq: number;
  captureTs: number;
  width: number;
  height: number;
  jpeg: Buffer;
  /** The model's detections on the frame, once they are known. */
  detections?: PictureDetection[];
  model?: ModelRef;
}

/** Frames an operator froze that are kept per camera at most, and for how long (ms): a box is drawn in seconds, a slow hand takes minutes. */
export const PINNED_MAX = 8;
export const PINNED_MS = 10 * 60_000;

export interface RecallOptions {
  /** Seconds of frames kept; 0: none. */
  seconds: number;
  /** Frames kept per second and camera. */
  fps: number;
  quality: number;
  clock: Clock;
  log: Logger;
}

/**
 * The last `seconds` of each camera at `fps` frames a second, as JPEG, so a
 * missed defect can keep the frame the operator froze and drew on, seconds
 * after its raw picture was reused. Each camera encodes at most one frame at a
 * time (a frame due while one is encoding is skipped), on libuv's threads.
 */
export class RecallRing {
  private readonly rings = new Map<string, RecalledPicture[]>();
  /** Per camera, the exact frames operators froze to draw on (`pin`), newest last. */
  private readonly pinned = new Map<string, Array<RecalledPicture & { until: number }>>();
  /** Cameras with a frozen frame being encoded. */
  private readonly pinning = new Set<string>();
  private readonly lastTaken = new Map<string, number>();
  /** Per camera, the frame being encoded, and its detections if they came meanwhile. */
  private readonly busy = new Map<string, { seq: number; label?: Pick<RecalledPicture, 'detections' | 'model'> }>();
  private warned = false;
  /** Milliseconds spent encoding, and the frames encoded. */
  encodeMs = 0;
  encoded = 0;

  constructor(private readonly o: RecallOptions) {}

  /** A full-size picture (valid during the call): kept when one is due for its camera. */
  offer(picture: Picture): void {
    if (this.o.seconds <= 0 || this.busy.has(picture.camera)) return;
    const last = this.lastTaken.get(picture.camera);
    if (last !== undefined && picture.captureTs - last < 1000 / this.o.fps && picture.captureTs >= last) return;
    this.lastTaken.set(picture.camera, picture.captureTs);
    const flight: { seq: number; label?: Pick<RecalledPicture, 'detections' | 'model'> } = { seq: picture.seq };
    this.busy.set(picture.camera, flight);
    const held = picture.hold();
    const { camera, seq, captureTs, width, height } = held;
    this.encode(held)
      .then((jpeg) => {
        if (this.busy.get(camera) !== flight) return; // camera left meanwhile
        const ring = this.rings.get(camera) ?? [];
        ring.push({ seq, captureTs, width, height, jpeg, ...flight.label });
        while (ring.length > 0 && ring[0].captureTs < captureTs - this.o.seconds * 1000) ring.shift();
        this.rings.set(camera, ring);
      }, (err: unknown) => {
        if (this.warned) return;
        this.warned = true;
        this.o.log.warn({ stage: 'capture', camera, code: 'E_PICTURE', err: errorMessage(err) }, 'could not encode a recent frame for missed defects; logged once');
      })
      .finally(() => {
        held.release();
        if (this.busy.get(camera) === flight) this.busy.delete(camera);
      });
  }

  /** The model's detections on frame `seq`, if it is kept. */
  label(camera: string, seq: number, detections: PictureDetection[], model: ModelRef | undefined): void {
    const flight = this.busy.get(camera);
    if (flight?.seq === seq) {
      flight.label = { detections, model };
      return;
    }
    const entry = this.rings.get(camera)?.find((r) => r.seq === seq);
    if (entry) Object.assign(entry, { detections, model });
  }

  /**
   * Keeps this exact frame (a picture, valid during the call) for `PINNED_MS`,
   * whatever the recall rate: an operator froze it to draw on. Its detections
   * come with it when known. Resolves once it is kept (false: the encode failed).
   */
  async pin(picture: Picture, label: Pick<RecalledPicture, 'detections' | 'model'>): Promise<boolean> {
    const now0 = this.o.clock.monotonic();
    const already = this.pinned.get(picture.camera)?.find((p) => p.seq === picture.seq && p.until > now0);
    if (already) {
      already.until = now0 + PINNED_MS; // frozen again: kept longer, not encoded again
      return true;
    }
    // One encode at a time per camera: a page freezing in a burst costs one thread, not the pool.
    if (this.pinning.has(picture.camera)) return false;
    this.pinning.add(picture.camera);
    const held = picture.hold();
    const { camera, seq, captureTs, width, height } = held;
    try {
      const jpeg = await this.encode(held);
      if (!this.pinning.has(camera)) return false; // the camera left meanwhile
      const now = this.o.clock.monotonic();
      const kept = (this.pinned.get(camera) ?? []).filter((p) => p.until > now && p.seq !== seq);
      kept.push({ seq, captureTs, width, height, jpeg, ...label, until: now + PINNED_MS });
      this.pinned.set(camera, kept.slice(-PINNED_MAX));
      return true;
    } catch (err) {
      this.o.log.warn({ stage: 'capture', camera, code: 'E_PICTURE', err: errorMessage(err) }, 'could not encode a frozen frame for missed defects');
      return false;
    } finally {
      held.release();
      this.pinning.delete(camera);
    }
  }

  /** The picture as JPEG at the configured quality, on libuv's threads; counted in `encodeMs` and `encoded`. */
  private async encode(p: Picture): Promise<Buffer> {
    const started = this.o.clock.monotonic();
    const jpeg = await sharp(p.rgb, { raw: { width: p.width, height: p.height, channels: 3 } }).jpeg({ quality: this.o.quality }).toBuffer();
    this.encodeMs += this.o.clock.monotonic() - started;
    this.encoded++;
    return jpeg;
  }

  /** The kept frame captured nearest to `ts`: a frozen one, or one of the recent ones. */
  near(camera: string, ts: number): RecalledPicture | undefined {
    const now = this.o.clock.monotonic();
    let best: RecalledPicture | undefined;
    for (const r of [...(this.pinned.get(camera) ?? []).filter((p) => p.until > now), ...(this.rings.get(camera) ?? [])]) {
      if (!best || Math.abs(r.captureTs - ts) < Math.abs(best.captureTs - ts)) best = r;
    }
    return best;
  }

  clear(camera: string): void {
    this.pinned.delete(camera);
    this.pinning.delete(camera);
    this.rings.delete(camera);
    this.lastTaken.delete(camera);
    this.busy.delete(camera);
  }
}
