import { Counter, Gauge, type Registry } from 'prom-client';
import type { CaptureStage } from './capture.js';
import type { PictureKeeper } from './keeper.js';
import type { PictureWriter } from './writer.js';

export interface CaptureMetricsSource {
  stage: CaptureStage;
  writer: PictureWriter;
  keeper: PictureKeeper;
}

/**
 * The capture's metrics, read from its counters when scraped: pictures kept by
 * reason, pictures lost and why (queue full, low disk, a failed encode, write
 * or record, no picture at hand), pictures removed (quota, retention, orphan),
 * the folder's bytes, the queue, and the encode time (kept pictures, and the
 * recent frames held as JPEG for missed defects).
 */
export function registerCaptureMetrics(registry: Registry, s: CaptureMetricsSource): void {
  const registers = [registry];
  new Counter({
    name: 'linesight_pictures_kept_total', help: 'Full-size pictures written and recorded for training, by reason (alert, missed, random, near_threshold, unconfirmed_track, rare_class)',
    labelNames: ['reason'], registers,
    collect(this: Counter) {
      this.reset();
      for (const [reason, n] of s.writer.counts.written) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'linesight_pictures_dropped_total',
    help: 'Pictures wanted but not kept, by reason: queue_full, low_disk, shutdown, encode_failed, write_failed, record_failed, no_picture, unstored_alert, missed_frame_gone',
    labelNames: ['reason'], registers,
    collect(this: Counter) {
      this.reset();
      for (const [reason, n] of s.writer.counts.dropped) this.inc({ reason }, n);
      for (const [reason, n] of s.writer.counts.failed) this.inc({ reason: `${reason}_failed` }, n);
      for (const [reason, n] of s.stage.skipped) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'linesight_pictures_removed_total', help: 'Kept pictures removed, by reason: quota (capture.max_mb), retention (store.retention_days), orphan (their alert or verdict is gone)',
    labelNames: ['reason'], registers,
    collect(this: Counter) {
      this.reset();
      for (const [reason, n] of s.keeper.removed) this.inc({ reason }, n);
    },
  });
  new Gauge({
    name: 'linesight_pictures_bytes', help: 'Bytes of all kept pictures (held within capture.max_mb)', registers,
    collect(this: Gauge) {
      this.set(s.keeper.totalBytes);
    },
  });
  new Gauge({
    name: 'linesight_pictures_queue', help: 'Pictures waiting to be encoded', registers,
    collect(this: Gauge) {
      this.set(s.writer.depth);
    },
  });
  new Counter({
    name: 'linesight_pictures_encode_seconds_total',
    help: 'Time spent encoding pictures as JPEG (on libuv threads, off the event loop), by purpose: kept, or recent frames held for missed defects (recall)',
    labelNames: ['purpose'], registers,
    collect(this: Counter) {
      this.reset();
      this.inc({ purpose: 'kept' }, s.writer.counts.encodeMs / 1000);
      this.inc({ purpose: 'recall' }, s.stage.recall.encodeMs / 1000);
    },
  });
  new Counter({
    name: 'linesight_pictures_encoded_total', help: 'Pictures encoded as JPEG, by purpose (kept, recall)', labelNames: ['purpose'], registers,
    collect(this: Counter) {
      this.reset();
      this.inc({ purpose: 'kept' }, s.writer.counts.encoded);
      this.inc({ purpose: 'recall' }, s.stage.recall.encoded);
    },
  });
}
