import type { Logger } from '../log.js';
import type { DefectEvent } from '../types.js';
import type { Counters } from './counters.js';
import type { Db } from './db.js';
import type { AlertStatus, ModelRef, RecordResult, StoreOptions } from './types.js';

/**
 * Writes an alert: its history row, its outbox row and its camera's next seq,
 * applying the outbox bound — all in one transaction, so a crash leaves either
 * all of it or none.
 */
export class EventRecorder {
  private readonly nextSeq;
  private readonly insertAlert;
  private readonly insertOutbox;
  private readonly dropOldest;
  private readonly setStatus;
  private readonly lastSeq;
  private readonly tx: (event: DefectEvent, model: ModelRef | undefined, now: number) => RecordResult;
  private full = false;
  /** Per camera, the highest seq given to an alert that could not be committed; the next commit continues after it. */
  private readonly unstoredSeq = new Map<string, number>();

  constructor(db: Db, private readonly counters: Counters, private readonly options: StoreOptions, private readonly log: Logger) {
    // The second parameter is a floor: after alerts went out unstored, the sequence continues past their seqs.
    this.nextSeq = db.prepare<[string, number], { seq: number }>(
      `INSERT INTO camera_seq (camera, seq) VALUES (?, ?)
       ON CONFLICT (camera) DO UPDATE SET seq = MAX(seq + 1, excluded.seq) RETURNING seq`,
    );
    this.lastSeq = db.prepare<[string], { seq: number }>('SELECT seq FROM camera_seq WHERE camera = ?');
    this.insertAlert = db.prepare(
      `INSERT INTO alerts (id, camera, seq, ts, track_id, class_id, class_name, confidence, box_x, box_y, box_w, box_h,
         frame_width, frame_height, frame_ts, confirmed_at, model_name, model_version, status, created_at, json)
       VALUES (@id, @camera, @seq, @ts, @trackId, @classId, @className, @confidence, @x, @y, @w, @h,
         @frameWidth, @frameHeight, @frameTs, @confirmedAt, @modelName, @modelVersion, @status, @createdAt, @json)`,
    );
    this.insertOutbox = db.prepare<[string, string, number, number, string]>(
      'INSERT INTO outbox (alert_id, camera, seq, created_at, json) VALUES (?, ?, ?, ?, ?)',
    );
    this.dropOldest = db.prepare<[], { alert_id: string }>(
      'DELETE FROM outbox WHERE id = (SELECT MIN(id) FROM outbox) RETURNING alert_id',
    );
    this.setStatus = db.prepare<[AlertStatus, string]>('UPDATE alerts SET status = ? WHERE id = ?');
    this.tx = db.transaction((event, model, now) => this.write(event, model, now));
  }

  record(event: DefectEvent, model: ModelRef | undefined, now: number): RecordResult {
    const result = this.tx(event, model, now);
    this.unstoredSeq.delete(event.camera);
    this.reportFull(result.outcome !== 'queued');
    return result;
  }

  /**
   * The seq of an alert whose commit failed: the next of its camera, read from
   * the committed sequence (a read works on a full disk) and from the unstored
   * ones before it. Held in memory only; the next commit of the camera moves
   * the stored sequence past it, so a seq is never given to two alerts while
   * the process lives (a restart before that commit can give it again).
   */
  reserveUnstored(camera: string): number {
    const committed = this.lastSeq.get(camera)?.seq ?? 0;
    const seq = Math.max(committed, this.unstoredSeq.get(camera) ?? 0) + 1;
    this.unstoredSeq.set(camera, seq);
    return seq;
  }

  private write(event: DefectEvent, model: ModelRef | undefined, now: number): RecordResult {
    const seq = (this.nextSeq.get(event.camera, (this.unstoredSeq.get(event.camera) ?? 0) + 1) as { seq: number }).seq;
    const json = JSON.stringify({ ...event, seq, model });
    const full = this.counters.get('outbox_depth') >= this.options.outboxMaxRows;
    if (full && this.options.outboxFullPolicy === 'reject_new') {
      this.insertAlert.run(alertRow(event, seq, model, 'rejected', now, json));
      this.counters.add('outbox_rejected', 1);
      return { seq, outcome: 'rejected' };
    }
    let outcome: RecordResult['outcome'] = 'queued';
    if (full) {
      const dropped = this.dropOldest.get();
      if (dropped) {
        this.setStatus.run('dropped', dropped.alert_id);
        this.counters.add('outbox_dropped', 1);
        this.counters.add('outbox_depth', -1);
        outcome = 'dropped_oldest';
      }
    }
    this.insertAlert.run(alertRow(event, seq, model, 'queued', now, json));
    this.insertOutbox.run(event.id, event.camera, seq, now, json);
    this.counters.add('outbox_depth', 1);
    return { seq, outcome };
  }

  /** Logs the start of a full-outbox episode once at warn, its end once at info. */
  private reportFull(full: boolean): void {
    if (full === this.full) return;
    if (!full && this.counters.get('outbox_depth') >= this.options.outboxMaxRows) return;
    this.full = full;
    const { outboxMaxRows: max, outboxFullPolicy: policy } = this.options;
    if (full) {
      this.log.warn({ stage: 'store', code: 'E_OUTBOX_FULL', max, policy },
        `outbox full (${max} unsent alerts): ${policy === 'drop_oldest' ? 'dropping the oldest alert for each new one' : 'refusing new alerts'}; counted on the status topic`);
    } else {
      this.log.info({ stage: 'store', max }, 'outbox below its bound again; alerts are queued normally');
    }
  }
}

function alertRow(event: DefectEvent, seq: number, model: ModelRef | undefined, status: AlertStatus, now: number, json: string) {
  return {
    id: event.id,
    camera: event.camera,
    seq,
    ts: event.ts,
    trackId: event.trackId,
    classId: event.classId,
    className: event.className,
    confidence: event.confidence,
    x: event.box.x,
    y: event.box.y,
    w: event.box.w,
    h: event.box.h,
    frameWidth: event.frame.width,
    frameHeight: event.frame.height,
    frameTs: event.frame.ts,
    confirmedAt: event.confirmedAt,
    modelName: model?.name ?? null,
    modelVersion: model?.version ?? null,
    status,
    createdAt: now,
    json,
  };
}
