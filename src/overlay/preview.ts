import sharp from 'sharp';
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';
import type { Picture } from '../types.js';
import { encodePreview } from './protocol.js';
import { RateLimiter } from './rate-limiter.js';
import { systemClock, type Clock } from '../clock.js';

export interface PreviewOptions {
  /** Longest preview width; smaller frames keep their size (never upscaled). */
  width: number;
  fps: number;
  quality?: number;
  /** Time for the rate limit. Default: the system's. */
  clock?: Clock;
}

export interface PreviewCounters {
  encoded: number;
  /** Frames not encoded: over the preview rate, or the previous encode of that camera still running. */
  throttled: number;
  busy: number;
  failed: number;
}

interface CameraLane {
  limiter: RateLimiter;
  encoding: boolean;
  /** The newest picture, held (a share of ingest's buffer, given back when a newer one comes). */
  latest: Picture | null;
  /** The picture being encoded, copied: sharp reads it on its own threads while ingest may reuse the original. */
  scratch: Buffer | null;
}

/**
 * Turns each camera's pictures into JPEG preview messages, once for all
 * clients. Per camera, a picture is encoded only when the rate allows and no
 * encode of that camera is running; otherwise it is dropped (freshest picture
 * wins, nothing queues). With nobody watching, nothing is encoded.
 */
export class PreviewEncoder {
  readonly counters: PreviewCounters = { encoded: 0, throttled: 0, busy: 0, failed: 0 };
  private readonly lanes = new Map<string, CameraLane>();
  private readonly failing = new Set<string>();
  private closed = false;

  constructor(
    private readonly opts: PreviewOptions,
    private readonly wanted: () => boolean,
    private readonly deliver: (camera: string, message: Buffer) => void,
    private readonly log: Logger,
  ) {}

  /** The newest picture of a camera (for alert thumbnails); valid until the next `offer` of that camera. */
  latest(camera: string): Picture | null {
    return this.lanes.get(camera)?.latest ?? null;
  }

  offer(frame: Picture): void {
    if (this.closed) return;
    const lane = this.lane(frame.camera);
    lane.latest?.release();
    lane.latest = frame.hold();
    if (!this.wanted()) return;
    if (lane.encoding) {
      this.counters.busy++;
      return;
    }
    if (!lane.limiter.take((this.opts.clock ?? systemClock).monotonic())) {
      this.counters.throttled++;
      return;
    }
    lane.encoding = true;
    this.encode(frame, lane)
      .then((jpeg) => {
        this.counters.encoded++;
        this.recovered(frame.camera);
        if (!this.closed) {
          this.deliver(frame.camera, encodePreview({ camera: frame.camera, captureTs: frame.captureTs, seq: frame.seq, width: frame.width, height: frame.height }, jpeg));
        }
      }, (err: unknown) => {
        this.counters.failed++;
        this.failed(frame.camera, err);
      })
      .finally(() => {
        lane.encoding = false;
      });
  }

  close(): void {
    this.closed = true;
    for (const lane of this.lanes.values()) lane.latest?.release();
    this.lanes.clear();
  }

  private lane(camera: string): CameraLane {
    let lane = this.lanes.get(camera);
    if (!lane) {
      lane = { limiter: new RateLimiter(this.opts.fps), encoding: false, latest: null, scratch: null };
      this.lanes.set(camera, lane);
    }
    return lane;
  }

  private encode(frame: Picture, lane: CameraLane): Promise<Buffer> {
    // One encode per camera at a time, so one copy per camera, reused.
    if (lane.scratch?.length !== frame.rgb.length) lane.scratch = Buffer.allocUnsafe(frame.rgb.length);
    frame.rgb.copy(lane.scratch);
    let img = sharp(lane.scratch, { raw: { width: frame.width, height: frame.height, channels: 3 } });
    if (frame.width > this.opts.width) img = img.resize({ width: this.opts.width, withoutEnlargement: true });
    return img.jpeg({ quality: this.opts.quality ?? 70, mozjpeg: false }).toBuffer();
  }

  private failed(camera: string, err: unknown): void {
    if (this.failing.has(camera)) return; // logged once per failure streak
    this.failing.add(camera);
    this.log.warn({ camera, err: errorMessage(err) }, 'preview encoding failed; the page shows the last good frame until a frame encodes again');
  }

  private recovered(camera: string): void {
    if (this.failing.delete(camera)) this.log.info({ camera }, 'preview encoding recovered');
  }
}
