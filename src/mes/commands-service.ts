import { DAY_MS, isoTime, type Clock, type Timer } from '../clock.js';
import { errorMessage, isLinesightError } from '../errors.js';
import type { Logger } from '../log.js';
import type { InboundMessage, Publisher } from '../publish/index.js';
import type { PayloadContext } from '../publish/payload.js';
import { lineTopic, type TopicRoot } from '../publish/topics.js';
import type { Db } from '../store/db.js';
import { MAX_COMMAND_BYTES, missingRanges, parseReplay, type CommandErrorCode, type ReplayRequest } from './commands-parse.js';
import { ReplayRunner } from './commands-replay.js';
import { CommandsTable } from './commands-table.js';

export const RESPONSE_SCHEMA = 'linesight.response/1';

/** On `{prefix}/{site}/{line}/cmd/response` (docs/cmd-response.schema.json). */
export interface CommandResponse {
  schema: typeof RESPONSE_SCHEMA;
  request_id: string;
  command: 'replay';
  ok: boolean;
  /** Alerts re-published. */
  sent: number;
  /** Ranges [from, to] of the request no longer in the history (past retention, or never stored). */
  missing: Array<[number, number]>;
  error?: { code: CommandErrorCode; message: string };
  /** When the response was made (ISO 8601 UTC, ms). */
  ts: string;
}

export interface CommandsDeps {
  db: Db;
  root: TopicRoot;
  /** Site, line and the detector's name for alerts recorded without one: the alert payload's context. */
  payload: PayloadContext;
  /** Ids of the configured cameras: a replay may name these, and any camera that has given alerts. */
  cameras: () => readonly string[];
  publisher: Pick<Publisher, 'publishRaw' | 'subscribe' | 'onConnect'>;
  clock: Clock;
  log: Logger;
  /** mes.replay_max */
  maxRange: number;
  /** mes.replay_rate */
  rate: number;
  /** Settled commands older than this are forgotten (a request_id reused after that runs again). */
  retentionDays: number;
  /** Most accepted replays waiting behind the running one; more are answered `busy`. Default 16. */
  maxQueued?: number;
  /** Wait before an alert is tried again while the broker is away, ms. Default 1000. */
  retryMs?: number;
}

const PURGE_EVERY_MS = 3_600_000;

/**
 * The MES's commands on `{prefix}/{site}/{line}/cmd/replay`: a replay
 * re-publishes a `seq` range of one camera's alerts from the history, paced,
 * one replay at a time, and answers on `…/cmd/response`. Commands are
 * idempotent by `request_id`: each is stored with its response, and a request
 * seen before gets that response again and nothing re-published. Nothing a
 * sender writes can stop the line: a refusal is an error response (or, with
 * no `request_id` to answer, a log line, once per kind of problem).
 */
export class ReplayCommands {
  private readonly table: CommandsTable;
  private readonly log: Logger;
  private readonly queue: ReplayRequest[] = [];
  private running: ReplayRunner | undefined;
  private readonly unhooks: Array<() => void> = [];
  private readonly loggedKinds = new Set<string>();
  private purgeTimer: Timer | undefined;
  private closed = false;

  constructor(private readonly deps: CommandsDeps) {
    this.table = new CommandsTable(deps.db);
    this.log = deps.log.child({ stage: 'mes' });
  }

  get requestTopic(): string {
    return lineTopic(this.deps.root, 'cmd/replay');
  }

  get responseTopic(): string {
    return lineTopic(this.deps.root, 'cmd/response');
  }

  start(): void {
    this.unhooks.push(this.deps.publisher.subscribe(this.requestTopic, (m) => this.received(m)));
    this.unhooks.push(this.deps.publisher.onConnect(() => this.resendAnswers()));
    this.safely('resume the replays of the last run', () => {
      // Accepted before a stop and never answered: run them again (subscribers deduplicate by id).
      for (const c of this.table.running()) {
        const parsed = parseReplay(Buffer.from(c.body), Number.MAX_SAFE_INTEGER);
        if (parsed.ok) this.queue.push(parsed.request);
        else this.settle(c.requestId, this.response(c.requestId, { code: parsed.code, message: parsed.message }));
      }
    });
    this.pump();
    this.purgeTimer = this.deps.clock.setInterval(() => this.safely('forget old commands', () => this.table.purge(this.deps.clock.now() - this.deps.retentionDays * DAY_MS)), PURGE_EVERY_MS);
  }

  close(): void {
    this.closed = true;
    for (const off of this.unhooks.splice(0)) off();
    this.running?.stop();
    this.running = undefined;
    if (this.purgeTimer !== undefined) this.deps.clock.clearInterval(this.purgeTimer);
  }

  private received(message: InboundMessage): void {
    if (this.closed) return;
    try {
      this.handle(message.payload);
    } catch (err) {
      // The database failed: answer (unstored, so the same request_id can be sent again) rather than stay silent.
      this.log.error({ code: isLinesightError(err) ? err.code : 'E_STORE', err: errorMessage(err) }, `could not handle a replay command: ${errorMessage(err)}`);
      const parsed = parseReplay(message.payload, Number.MAX_SAFE_INTEGER);
      const requestId = parsed.ok ? parsed.request.requestId : parsed.requestId;
      if (requestId !== undefined) {
        this.publishResponse(requestId, JSON.stringify(this.response(requestId, { code: 'failed', message: `Expected to store the command but the database failed: ${errorMessage(err)}` })));
      }
    }
  }

  private handle(payload: Buffer): void {
    const parsed = parseReplay(payload, this.deps.maxRange);
    const requestId = parsed.ok ? parsed.request.requestId : parsed.requestId;
    if (requestId === undefined) {
      const text = !parsed.ok ? parsed.message : '';
      this.once(`unanswerable:${text.slice(0, 40)}`, { topic: this.requestTopic }, `a replay command without a readable request_id was ignored: ${text}`);
      return;
    }
    const known = this.table.get(requestId);
    if (known) {
      // Idempotent: the same answer again, nothing re-published. One still running answers when it ends.
      if (known.response !== null) this.publishResponse(requestId, known.response);
      return;
    }
    const body = payload.subarray(0, MAX_COMMAND_BYTES).toString('utf8');
    if (!parsed.ok) return this.refuse(requestId, body, parsed.code, parsed.message);
    const r = parsed.request;
    const cameras = this.deps.cameras();
    const last = this.table.lastSeq(r.camera);
    // A camera removed from the config keeps its history: the MES may still reconcile its last shifts.
    if (!cameras.includes(r.camera) && last === 0) {
      return this.refuse(requestId, body, 'unknown_camera', `Expected camera to be one of ${cameras.map((c) => JSON.stringify(c)).join(', ')} or one with alerts in the history but received ${JSON.stringify(r.camera)}`);
    }
    if (r.toSeq > last) {
      return this.refuse(requestId, body, 'out_of_range', `Expected to_seq ≤ ${last}, the last seq camera ${r.camera} has given, but received ${r.toSeq}`);
    }
    if (this.queue.length >= (this.deps.maxQueued ?? 16)) {
      // Not stored: the same request_id may be sent again once the queue has room.
      this.publishResponse(requestId, JSON.stringify(this.response(requestId, { code: 'busy', message: `Expected at most ${this.deps.maxQueued ?? 16} replays waiting but the queue is full; ask again later` })));
      return;
    }
    this.table.insert(requestId, 'replay', body, null, this.deps.clock.now());
    this.queue.push(r);
    this.pump();
  }

  /** Runs the next waiting replay when none runs. */
  private pump(): void {
    if (this.running || this.closed) return;
    const r = this.queue.shift();
    if (!r) return;
    let alerts;
    try {
      alerts = this.table.history(r.camera, r.fromSeq, r.toSeq);
    } catch (err) {
      this.settle(r.requestId, this.response(r.requestId, { code: 'failed', message: `Expected to read the alert history but the database failed: ${errorMessage(err)}` }));
      this.pump();
      return;
    }
    const missing = missingRanges(r.fromSeq, r.toSeq, alerts.map((a) => a.seq));
    const runner = new ReplayRunner({
      publisher: this.deps.publisher, root: this.deps.root, payload: this.deps.payload, clock: this.deps.clock, rate: this.deps.rate, retryMs: this.deps.retryMs,
    }, alerts, (sent) => {
      this.running = undefined;
      this.log.info({ request_id: r.requestId, camera: r.camera, from_seq: r.fromSeq, to_seq: r.toSeq, sent, missing }, 'replay done');
      this.settle(r.requestId, { ...this.response(r.requestId), ok: true, sent, missing });
      this.pump();
    });
    this.running = runner;
    runner.start();
  }

  private refuse(requestId: string, body: string, code: CommandErrorCode, message: string): void {
    this.once(`refused:${code}`, { request_id: requestId, error: code }, `replay command ${requestId} refused: ${message}`);
    const response = JSON.stringify(this.response(requestId, { code, message }));
    this.table.insert(requestId, 'replay', body, response, this.deps.clock.now());
    this.publishResponse(requestId, response);
  }

  /** Stores the response of a command that ran, then publishes it. */
  private settle(requestId: string, response: CommandResponse): void {
    const json = JSON.stringify(response);
    this.safely('store a command response', () => this.table.answer(requestId, json, this.deps.clock.now()));
    this.publishResponse(requestId, json);
  }

  private response(requestId: string, error?: CommandResponse['error']): CommandResponse {
    return {
      schema: RESPONSE_SCHEMA, request_id: requestId, command: 'replay', ok: false, sent: 0, missing: [],
      ...(error ? { error } : {}), ts: isoTime(this.deps.clock.now()),
    };
  }

  /** QoS 1, not retained; marked sent on PUBACK. Not connected: it goes out at the next connection. */
  private publishResponse(requestId: string, json: string): void {
    this.deps.publisher.publishRaw(this.responseTopic, json, { retain: false, userProperties: { request_id: requestId, schema: RESPONSE_SCHEMA } }, (err) => {
      if (!err && !this.closed) this.safely('mark a command response sent', () => this.table.markSent(requestId, this.deps.clock.now()));
    });
  }

  private resendAnswers(): void {
    if (this.closed) return;
    this.safely('send the command responses of an outage', () => {
      for (const c of this.table.unsent()) if (c.response !== null) this.publishResponse(c.requestId, c.response);
    });
  }

  /** The first of each kind at warn, the rest at debug: a sender repeating a bad command must not flood the log. */
  private once(kind: string, fields: Record<string, unknown>, message: string): void {
    if (this.loggedKinds.has(kind)) {
      this.log.debug(fields, message);
      return;
    }
    this.loggedKinds.add(kind);
    this.log.warn({ ...fields, code: 'E_ARGUMENT' }, `${message} (further ones like it are logged at debug)`);
  }

  private safely(what: string, fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ code: isLinesightError(err) ? err.code : 'E_STORE', err: errorMessage(err) }, `could not ${what}: ${errorMessage(err)}`);
    }
  }
}
