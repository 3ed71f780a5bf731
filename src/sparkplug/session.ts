import type { Clock } from '../clock.js';
import { errorMessage, isLinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PublishRequest, WillMessage } from '../publish/client.js';
import type { LedgerAlert, SparkplugLedger } from '../store/sparkplug-ledger.js';
import type { CameraSnapshot } from '../types.js';
import {
  REBIRTH, changedMetrics, countMetric, countMetrics, defectMetrics, deviceMetrics, nodeBirthMetrics, nodeMetrics, type Metric, type MetricValue, type NodeFacts,
} from './metrics.js';
import { deathPayload, encodePayload, parseHostState, parseNodeCommand } from './payloads.js';
import { deviceTopic, nodeTopic, type EdgeNodeId } from './topics.js';

/** What the edge node reads from the line. */
export interface EdgeSources {
  cameras(): CameraSnapshot[];
  node(): NodeFacts;
  /** Class names of the active model: each gets an `alerts/{class}` metric from the birth on. */
  classNames(): readonly string[];
}

/** The part of the broker connection the session writes to. */
export interface EdgeTransport {
  publish(topic: string, payload: Buffer, req: PublishRequest, done?: (err?: Error) => void): boolean;
}

/**
 * `offline`: no connection. `waiting`: connected, the primary host is not
 * online yet, nothing published. `born`: NBIRTH and DBIRTHs are out.
 */
export type EdgePhase = 'offline' | 'waiting' | 'born';

/** Most defects in flight at once; the next batch goes once their writes are done. */
const DEFECT_BATCH = 100;

/**
 * The Sparkplug B 3.0 edge node's state machine, one per broker connection
 * that comes and goes: the bdSeq of each CONNECT (its will is the NDEATH),
 * `seq` 0–255 over BIRTHs and DATA (§6.4.20), births once the primary host is
 * online, rebirth on `Node Control/Rebirth`, DDATA for changed metrics and for
 * every alert of the history past the cursor (historical when it was recorded
 * while the node was not born). The connection's I/O is not here.
 */
export class EdgeSession {
  phase: EdgePhase = 'offline';
  /** The bdSeq of the current (or next) connection: the one in its will. */
  bdSeq = -1;
  private seq = 0;
  /** Wall clock of the first birth on this connection: alerts recorded before it are historical. */
  private bornAt = 0;
  private hostOnline: boolean;
  private hostTimestamp = Number.NEGATIVE_INFINITY;
  private nodeSent = new Map<string, MetricValue>();
  /** Per born device: the values last sent, and the classes its birth declared. */
  private devices = new Map<string, { sent: Map<string, MetricValue>; classes: Set<string> }>();
  private counts = new Map<string, Map<string, number>>();
  /** Rowid of the last alert handed to the connection (the ledger's cursor lags until its write is done). */
  private sentPos = 0;
  private inflight = 0;
  /** Bumped at every birth: a write callback of an earlier one no longer counts toward the batch. */
  private epoch = 0;
  private readonly warned = new Set<string>();
  private readonly failing = new Set<string>();

  constructor(
    private readonly id: EdgeNodeId,
    private readonly transport: EdgeTransport,
    private readonly ledger: SparkplugLedger,
    private readonly sources: EdgeSources,
    private readonly opts: {
      /** When set, births wait for this host's STATE to say online. */
      primaryHost?: string;
      clock: Clock;
      log: Logger;
      /** The primary host went offline while born: publish the death and reconnect (§5.7). */
      hostOffline: () => void;
    },
  ) {
    this.hostOnline = opts.primaryHost === undefined;
  }

  /** The will of the next CONNECT: NDEATH with a new bdSeq (§6.4.2: one per CONNECT, kept across restarts). */
  will(): WillMessage {
    this.bdSeq = this.takeBdSeq();
    return { topic: nodeTopic(this.id, 'NDEATH'), payload: deathPayload(this.bdSeq, this.opts.clock.now()), retain: false };
  }

  /** The NDEATH of an intentional disconnect: the same bdSeq as the will it replaces. */
  death(): Buffer {
    return deathPayload(this.bdSeq, this.opts.clock.now());
  }

  connected(): void {
    this.phase = 'waiting';
    if (this.hostOnline) this.birth();
    else this.opts.log.info({ host: this.opts.primaryHost }, `connected; waiting for Sparkplug host ${this.opts.primaryHost} to be online before the births`);
  }

  disconnected(): void {
    this.phase = 'offline';
    this.inflight = 0;
    this.epoch += 1;
    // Each new connection waits for the host's STATE again (its retained one arrives on subscribe).
    if (this.opts.primaryHost !== undefined) this.hostOnline = false;
  }

  /** A message on the primary host's STATE topic. */
  hostState(payload: Buffer): void {
    const state = this.safely('read a host STATE', () => parseHostState(payload));
    if (!state) return;
    // §5.7: a STATE older than the last one seen is stale (a retained copy overtaken by a newer one).
    if (state.timestamp < this.hostTimestamp) return;
    this.hostTimestamp = state.timestamp;
    if (state.online === this.hostOnline) return;
    this.hostOnline = state.online;
    this.opts.log.info({ host: this.opts.primaryHost, online: state.online }, `Sparkplug host ${this.opts.primaryHost} is ${state.online ? 'online' : 'offline'}`);
    if (state.online && this.phase === 'waiting') this.birth();
    else if (!state.online && this.phase === 'born') {
      this.phase = 'waiting';
      this.opts.hostOffline();
    }
  }

  /** A message on this node's NCMD topic. */
  command(payload: Buffer): void {
    const cmd = this.safely('read an NCMD', () => parseNodeCommand(payload));
    if (!cmd) return;
    for (const name of cmd.ignored) this.warnOnce(`ncmd:${name}`, `NCMD metric "${name}" is not supported (only ${REBIRTH}); ignored`);
    if (!cmd.rebirth) return;
    if (this.phase !== 'born') {
      this.opts.log.debug('rebirth requested before the birth; the birth will come anyway');
      return;
    }
    this.opts.log.info('rebirth requested by a Sparkplug host');
    this.birth();
  }

  /** Periodic: changed node and camera metrics, cameras that came or went, defects not sent yet. */
  tick(): void {
    if (this.phase !== 'born') return;
    this.safely('publish changed metrics', () => {
      const changed = changedMetrics(this.nodeSent, nodeMetrics(this.sources.node()));
      if (changed.length > 0) this.publish(nodeTopic(this.id, 'NDATA'), changed);
      this.devicesTick();
    });
    this.sendDefects();
  }

  /** New alerts were recorded: send them now rather than at the next tick. */
  kick(): void {
    if (this.phase === 'born') this.sendDefects();
  }

  /** NBIRTH, then a DBIRTH per camera, then the defects past the cursor. Also a rebirth (§6.4.4: same bdSeq, seq from 0). */
  private birth(): void {
    const rebirth = this.phase === 'born';
    if (!rebirth) {
      this.bornAt = this.opts.clock.now();
      this.sentPos = this.safely('read the Sparkplug cursor', () => this.ledger.cursor()) ?? this.sentPos;
    }
    this.phase = 'born';
    this.seq = 0;
    this.epoch += 1;
    this.inflight = 0;
    this.safely('publish the births', () => {
      const node = nodeBirthMetrics(this.bdSeq, this.sources.node());
      this.nodeSent = new Map(node.map((m) => [m.name, m.value]));
      this.publish(nodeTopic(this.id, 'NBIRTH'), node);
      this.counts = this.ledger.classCounts(this.sentPos);
      this.devices.clear();
      for (const s of this.sources.cameras()) this.deviceBirth(s);
    });
    this.opts.log.info({ bdSeq: this.bdSeq, devices: this.devices.size, rebirth }, `Sparkplug edge node ${this.id.group}/${this.id.node} born`);
    this.sendDefects();
  }

  /** DBIRTH of camera `s`, declaring the model's classes, those counted so far and `extraClass`. */
  private deviceBirth(s: CameraSnapshot, extraClass?: string): { sent: Map<string, MetricValue>; classes: Set<string> } {
    const classes = new Set([...this.sources.classNames(), ...(this.counts.get(s.id)?.keys() ?? []), ...(extraClass ? [extraClass] : [])]);
    const last = this.ledger.lastAlert(s.id, this.sentPos);
    const metrics = [
      ...deviceMetrics(s, this.sources.node().model),
      ...countMetrics(classes, this.counts.get(s.id)),
      ...defectMetrics(last?.alert),
    ];
    const device = { sent: new Map(metrics.map((m) => [m.name, m.value])), classes };
    this.devices.set(s.id, device);
    this.publish(deviceTopic(this.id, 'DBIRTH', s.id), metrics);
    return device;
  }

  private devicesTick(): void {
    const snapshots = this.sources.cameras();
    const present = new Set(snapshots.map((s) => s.id));
    for (const id of [...this.devices.keys()]) {
      if (present.has(id)) continue;
      this.devices.delete(id);
      this.publish(deviceTopic(this.id, 'DDEATH', id), []);
    }
    const model = this.sources.node().model;
    for (const s of snapshots) {
      const device = this.devices.get(s.id);
      if (!device) {
        this.deviceBirth(s);
        continue;
      }
      const changed = changedMetrics(device.sent, deviceMetrics(s, model));
      if (changed.length > 0) this.publish(deviceTopic(this.id, 'DDATA', s.id), changed);
    }
  }

  /**
   * Sends the alerts past `sentPos` as DDATA, a batch at a time: the cursor
   * moves once the batch's writes are done, and the next batch follows.
   */
  private sendDefects(): void {
    if (this.phase !== 'born' || this.inflight > 0) return;
    const batch = this.safely('read alerts for Sparkplug', () => this.ledger.alertsAfter(this.sentPos, DEFECT_BATCH));
    if (!batch || batch.length === 0) return;
    const epoch = this.epoch;
    let done = 0;
    let reached = 0;
    const settled = (pos: number, err?: Error) => {
      if (!err) reached = Math.max(reached, pos);
      done += 1;
      if (done < batch.length) return;
      if (reached > 0) this.safely('store the Sparkplug cursor', () => this.ledger.advance(reached));
      if (epoch !== this.epoch) return;
      this.inflight = 0;
      if (batch.length === DEFECT_BATCH) this.sendDefects();
    };
    this.inflight = batch.length;
    for (const item of batch) {
      const outcome = this.sendDefect(item, (err) => settled(item.pos, err));
      this.sentPos = item.pos; // after: a DBIRTH on the way restates the defect before this one
      if (outcome === 'skipped') settled(item.pos);
      else if (outcome === 'unsent') settled(item.pos, new Error('not connected'));
    }
  }

  /**
   * One alert as DDATA on its camera's device. `skipped`: its camera is not a
   * device (nothing to send, the cursor passes it); `unsent`: the connection is gone.
   */
  private sendDefect(item: LedgerAlert, done: (err?: Error) => void): 'sent' | 'skipped' | 'unsent' {
    const { alert } = item;
    const device = this.devices.get(alert.camera);
    if (!device) {
      // A camera removed from the line since: its device is dead, so the defect has no place in Sparkplug.
      this.opts.log.debug({ camera: alert.camera, alert: alert.id }, 'alert of a camera that is not a Sparkplug device; not sent');
      return 'skipped';
    }
    let born = device;
    if (!device.classes.has(alert.className)) {
      // A class the birth did not declare (the model changed): declare it by a new DBIRTH first (§6.4.7).
      const snapshot = this.sources.cameras().find((s) => s.id === alert.camera);
      if (snapshot) born = this.deviceBirth(snapshot, alert.className);
    }
    const ofCamera = this.counts.get(alert.camera) ?? new Map<string, number>();
    this.counts.set(alert.camera, ofCamera);
    const count = (ofCamera.get(alert.className) ?? 0) + 1;
    ofCamera.set(alert.className, count);
    const metrics: Metric[] = [...defectMetrics(alert, item.createdAt < this.bornAt), countMetric(alert.className, count)];
    for (const m of metrics) born.sent.set(m.name, m.value);
    return this.publish(deviceTopic(this.id, 'DDATA', alert.camera), metrics, done) ? 'sent' : 'unsent';
  }

  /** BIRTH, DATA and DEATH of devices: QoS 0, not retained (§6.4), the next `seq`. */
  private publish(topic: string, metrics: readonly Metric[], done?: (err?: Error) => void): boolean {
    const seq = this.seq;
    this.seq = (this.seq + 1) % 256;
    const payload = encodePayload({ timestamp: this.opts.clock.now(), seq, metrics });
    return this.transport.publish(topic, payload, { qos: 0, retain: false }, done);
  }

  private takeBdSeq(): number {
    try {
      return this.ledger.takeBdSeq();
    } catch (err) {
      // The store cannot write (full disk): go on counting in memory; a host may then see a stale NDEATH after a restart.
      const next = (this.bdSeq + 1) % 256;
      this.warnOnce('bdseq', `could not store the Sparkplug bdSeq (${errorMessage(err)}); counting on from ${next} in memory`);
      return next;
    }
  }

  /** Runs `fn`; a failure is logged once until the same action succeeds again (a failing store would otherwise log every tick). */
  private safely<T>(what: string, fn: () => T): T | undefined {
    try {
      const result = fn();
      if (this.failing.delete(what)) this.opts.log.info(`could ${what} again`);
      return result;
    } catch (err) {
      const code = isLinesightError(err) ? err.code : 'E_STORE';
      if (isLinesightError(err, 'E_SPARKPLUG')) this.opts.log.warn({ code, err: errorMessage(err) }, `could not ${what}: ${errorMessage(err)}; ignored`);
      else if (!this.failing.has(what)) {
        this.failing.add(what);
        this.opts.log.warn({ code, err: errorMessage(err) }, `could not ${what}: ${errorMessage(err)}; trying again at the next change`);
      }
      return undefined;
    }
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.opts.log.warn({ code: 'E_SPARKPLUG' }, message);
  }
}
