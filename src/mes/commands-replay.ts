import type { Clock, Timer } from '../clock.js';
import type { Publisher } from '../publish/index.js';
import { ALERT_SCHEMA, alertPayload, type PayloadContext } from '../publish/payload.js';
import { alertTopic, type TopicRoot } from '../publish/topics.js';
import type { HistoryAlert } from './commands-table.js';

export interface ReplayRunnerDeps {
  publisher: Pick<Publisher, 'publishRaw'>;
  root: TopicRoot;
  payload: PayloadContext;
  clock: Clock;
  /** Alerts per second (mes.replay_rate). */
  rate: number;
  /** Wait before trying an alert again while the broker is away or refused it, ms. Default 1000. */
  retryMs?: number;
}

/**
 * Re-publishes alerts of the history on their normal topic, one at a time and
 * paced: the next goes `1 / rate` s after the previous one's PUBACK. Each is
 * the alert as first published (same id, seq, payload builder) with
 * `replayed: true`; QoS 1, never retained, MQTT 5 user properties `id` and
 * `schema`. While the broker is away the runner waits and tries the same
 * alert again, so a replay outlives an outage.
 */
export class ReplayRunner {
  private timer: Timer | undefined;
  private stopped = false;

  constructor(private readonly deps: ReplayRunnerDeps, private readonly alerts: readonly HistoryAlert[], private readonly done: (sent: number) => void) {}

  start(): void {
    this.send(0);
  }

  /** Stops before the next alert; `done` is never called. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private send(i: number): void {
    this.timer = undefined;
    if (this.stopped) return;
    if (i >= this.alerts.length) {
      this.done(this.alerts.length);
      return;
    }
    const { publisher, root, payload, clock } = this.deps;
    const alert = this.alerts[i];
    // latency_ms keeps its meaning, capture → this publish attempt (on the wall clock: the capture's monotonic time is long gone).
    const body = alertPayload({ seq: alert.seq, event: alert.event, model: alert.model, replayed: true }, payload, clock.now() - alert.event.ts);
    const retry = () => this.later(() => this.send(i), this.deps.retryMs ?? 1000);
    const taken = publisher.publishRaw(alertTopic(root, alert.event.camera), JSON.stringify(body), {
      retain: false, userProperties: { id: alert.event.id, schema: ALERT_SCHEMA },
    }, (err) => {
      if (err) retry();
      else this.later(() => this.send(i + 1), 1000 / this.deps.rate);
    });
    if (!taken) retry();
  }

  private later(fn: () => void, ms: number): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(fn, ms);
  }
}
