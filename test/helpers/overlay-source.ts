import { systemClock } from '../../src/clock.js';
import { Listeners } from '../../src/listeners.js';
import { silentLogger } from '../../src/log.js';
import type { AlertView, OverlaySource, TrackView, Unsubscribe, VerdictView } from '../../src/overlay/source.js';
import type { VerdictCount } from '../../src/store/aggregator.js';
import type { AlertVerdictInput, JudgedAlert, Verdict, VerdictStore, WithdrawInput } from '../../src/store/index.js';
import { verdictRefusal } from '../../src/verdicts/refusal.js';
import { Verdicts } from '../../src/verdicts/service.js';
import type { CameraSnapshot, InspectedFrame, ModelInfo, Picture } from '../../src/types.js';
import { makePicture } from './pictures.js';

export const TEST_MODEL: ModelInfo = {
  path: 'squares-v8.onnx', name: 'squares', version: 'fixture-1', inputName: 'images', inputShape: ['batch', 3, 320, 320],
  inputType: 'float32', inputWidth: 320, inputHeight: 320, dynamicBatch: true, outputName: 'output0',
  outputShape: ['batch', 7, 3], layout: 'yolov8', classNames: ['red', 'green', 'blue'], provider: 'cpu', sessions: 1, metadata: {},
};

/**
 * An OverlaySource the test drives by hand: it pushes real RGB pictures, inspected
 * results and alerts, and keeps per-camera counts the way ingest does, so the
 * server under test sees what it would see from a running line.
 */
export class HandSource implements OverlaySource {
  site = 'plant';
  line = 'line1';
  alive = true;
  mqttConnected = true;
  outboxDepth = 0;
  alerts: AlertView[] = [];
  readonly snaps = new Map<string, CameraSnapshot>();
  private readonly pictures = new Listeners<[Picture]>();
  private readonly inspected = new Listeners<[InspectedFrame, TrackView[]]>();
  private readonly alertL = new Listeners<[AlertView, Picture | undefined]>();

  /** Verdicts as the line stores them, in order; `counted` is what reached the statistics. */
  readonly judged: Verdict[] = [];
  readonly counted: VerdictCount[] = [];
  /** The real verdict service over the alerts this source holds (its own refusals, validation and messages). */
  readonly verdicts: Verdicts;

  constructor(cameraIds: string[]) {
    this.verdicts = new Verdicts({
      store: this.verdictStore(), stored: () => undefined, count: (c) => this.counted.push(...c), log: silentLogger(),
      clock: systemClock, classNames: () => TEST_MODEL.classNames, cameras: () => [...this.snaps.keys()],
    });
    for (const id of cameraIds) {
      this.snaps.set(id, {
        id, state: 'connecting', fps: 0, framesReceived: 0, framesInspected: 0,
        framesDropped: { superseded: 0, bad_frame: 0, shutdown: 0, inference_error: 0 }, restarts: 0,
      });
    }
  }

  model(): ModelInfo {
    return TEST_MODEL;
  }
  cameras(): CameraSnapshot[] {
    return [...this.snaps.values()].map((s) => ({ ...s, framesDropped: { ...s.framesDropped } }));
  }
  onPicture(fn: (picture: Picture) => void): Unsubscribe {
    return this.pictures.add(fn);
  }
  onInspected(fn: (r: InspectedFrame, tracks: TrackView[]) => void): Unsubscribe {
    return this.inspected.add(fn);
  }
  onAlert(fn: (a: AlertView, picture?: Picture) => void): Unsubscribe {
    return this.alertL.add(fn);
  }
  recentAlerts(limit: number): AlertView[] {
    return this.verdicts.withVerdicts(this.alerts.slice(0, limit));
  }
  verdict(alertId: string, body: unknown): VerdictView {
    return this.verdicts.judge(alertId, body);
  }
  missed(camera: string, body: unknown): VerdictView {
    return this.verdicts.missed(camera, body);
  }
  withdraw(verdictId: string, body: unknown): VerdictView {
    return this.verdicts.withdraw(verdictId, body);
  }
  recentMissed(limit: number): VerdictView[] {
    return this.verdicts.recentMissed(limit);
  }
  onVerdict(fn: (verdict: VerdictView) => void): Unsubscribe {
    return this.verdicts.onVerdict(fn);
  }
  health() {
    return { alive: this.alive, mqttConnected: this.mqttConnected, outboxDepth: this.outboxDepth };
  }
  /** Cameras asked to re-learn their health baseline, in order. */
  readonly relearned: string[] = [];
  relearnHealth(camera: string): void {
    if (!this.snaps.has(camera)) throw new Error(`Expected a running camera but received "${camera}"`);
    this.relearned.push(camera);
  }

  /** An in-memory VerdictStore over `alerts`, with the same refusals as the SQLite one. */
  private verdictStore(): VerdictStore {
    const latest = (alertId: string) => this.judged.filter((v) => v.alertId === alertId).at(-1);
    return {
      judgeAlert: (input: AlertVerdictInput): JudgedAlert => {
        const alert = this.alerts.find((a) => a.id === input.alertId);
        if (!alert) throw verdictRefusal('unknown_alert', `Expected the id of a stored alert but received ${JSON.stringify(input.alertId)}`);
        const existing = latest(input.alertId);
        if (existing && !input.replace) throw verdictRefusal('already_judged', `Expected an alert without a verdict but alert ${input.alertId} is already judged ${existing.verdict} by ${JSON.stringify(existing.operator)}`);
        const verdict: Verdict = {
          id: input.id, alertId: input.alertId, camera: alert.camera, verdict: input.verdict, className: alert.className, box: alert.box,
          frame: alert.frame, operator: input.operator, ts: input.ts, ...(existing ? { replaces: existing.id } : {}),
        };
        this.judged.push(verdict);
        return existing ? { verdict, superseded: existing } : { verdict };
      },
      recordMissed: (verdict) => void this.judged.push(verdict),
      withdrawMissed: (input: WithdrawInput): Verdict => {
        const missed = this.judged.find((v) => v.id === input.verdictId && v.verdict === 'missed' && !v.withdrawn);
        if (!missed) throw verdictRefusal('unknown_verdict', `Expected the id of a stored missed defect but received ${JSON.stringify(input.verdictId)}`);
        if (this.judged.some((v) => v.replaces === missed.id)) throw verdictRefusal('already_withdrawn', `Expected a missed defect that stands but ${missed.id} was already withdrawn`);
        const withdrawal: Verdict = { ...missed, id: input.id, operator: input.operator, ts: input.ts, replaces: missed.id, withdrawn: true };
        this.judged.push(withdrawal);
        return withdrawal;
      },
      recentMissed: (limit) => this.judged.filter((v) => v.verdict === 'missed').slice(-limit),
      latestVerdicts: (ids) => new Map(ids.flatMap((id) => { const v = latest(id); return v ? [[id, v] as const] : []; })),
      verdictOutbox: { pendingBatch: () => [], markSent: () => 0, markAllReplayed: () => 0, depth: () => 0 },
    };
  }

  /** Listeners subscribed (the server must unsubscribe on close). */
  get listenerCount(): number {
    return this.pictures.size + this.inspected.size + this.alertL.size;
  }

  /** A frame's full-size picture, as a camera emits it (the camera's share is given back after the call). */
  pushFrame(frame: { camera: string; seq: number; captureTs: number; width: number; height: number; rgb: Buffer }): Picture {
    const s = this.snaps.get(frame.camera)!;
    s.state = 'online';
    s.width = frame.width;
    s.height = frame.height;
    s.framesReceived++;
    s.lastFrameTs = frame.captureTs;
    const { rgb, ...of } = frame;
    const picture = makePicture(of, rgb);
    this.pictures.emit(picture);
    picture.release();
    return picture;
  }

  pushInspected(r: InspectedFrame, tracks: TrackView[] = []): void {
    this.snaps.get(r.frame.camera)!.framesInspected++;
    this.inspected.emit(r, tracks);
  }

  /** An alert, with the picture of the frame its box comes from (as the events stage hands it on, valid during the call). */
  pushAlert(a: AlertView, picture?: { seq: number; captureTs: number; rgb: Buffer }): void {
    this.alerts.unshift(a);
    const shown = picture && makePicture({ camera: a.camera, seq: picture.seq, captureTs: picture.captureTs, width: a.frame.width, height: a.frame.height }, picture.rgb);
    this.alertL.emit(a, shown);
    shown?.release();
  }
}

/** A packed RGB24 frame: grey, or random bytes (JPEGs as large as a busy scene gives), with an optional red square. */
export function rgbFrame(width: number, height: number, opts: { noise?: boolean; seed?: number; square?: { x: number; y: number; w: number; h: number } } = {}): Buffer {
  const buf = Buffer.alloc(width * height * 3, 100);
  let s = (opts.seed ?? 1) >>> 0 || 1;
  if (opts.noise) {
    for (let i = 0; i < buf.length; i++) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; // xorshift32
      buf[i] = s & 255;
    }
  }
  const q = opts.square;
  if (q) {
    for (let y = q.y; y < q.y + q.h; y++) {
      for (let x = q.x; x < q.x + q.w; x++) {
        const o = (y * width + x) * 3;
        buf[o] = 230; buf[o + 1] = 20; buf[o + 2] = 20;
      }
    }
  }
  return buf;
}
