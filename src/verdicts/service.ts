import { v7 as uuidv7 } from 'uuid';
import type { Clock } from '../clock.js';
import { Listeners, type Unsubscribe } from '../listeners.js';
import type { Logger } from '../log.js';
import type { VerdictCount } from '../store/aggregator.js';
import type { Verdict, VerdictStore } from '../store/types.js';
import type { ProductionContext } from '../types.js';
import { verdictBody, type VerdictBody } from './body.js';
import { expectRunningCamera } from './refusal.js';
import { parseJudgeRequest, parseMissedRequest, parseWithdrawRequest } from './validate.js';

/** An alert's latest verdict as the overlay lists it with the alert. */
export interface AlertVerdictSummary {
  verdict: Verdict['verdict'];
  operator: string;
  /** ISO 8601 UTC, when it was given. */
  ts: string;
}

export interface VerdictsDeps {
  store: VerdictStore;
  /** A verdict was stored: publish it now (the publisher's verdict drain). */
  stored(): void;
  /** The statistics (the aggregator's `onVerdict`). */
  count(counts: readonly VerdictCount[]): void;
  /** The model's class names, read when a missed defect comes. */
  classNames(): readonly string[];
  /** Ids of the running cameras. */
  cameras(): readonly string[];
  clock: Clock;
  log: Logger;
  /** The production context in force at a frame's capture time, stamped on a missed defect (a judged alert's comes from the alert). */
  context?(ts: number): ProductionContext | undefined;
}

/**
 * Operator verdicts: validates what the page sends, stores each verdict in one
 * transaction (it is accepted once that commits), then asks the publisher to
 * send it, counts it in the statistics and tells the pages. A failure after
 * the commit is logged, never turned into a refusal: the verdict is stored.
 */
export class Verdicts {
  private readonly told = new Listeners<[VerdictBody]>();

  constructor(private readonly deps: VerdictsDeps) {}

  /** `POST /api/alerts/{alertId}/verdict`; throws a VerdictRefusal (E_ARGUMENT) for a bad body, an unknown alert, or one already judged without `replace`. */
  judge(alertId: string, body: unknown): VerdictBody {
    const request = parseJudgeRequest(body);
    const { verdict, superseded } = this.deps.store.judgeAlert({
      id: uuidv7(), alertId, verdict: request.verdict, operator: request.operator, ts: this.deps.clock.now(), replace: request.replace,
    });
    const counts: VerdictCount[] = [{ camera: verdict.camera, className: verdict.className, verdict: verdict.verdict, delta: 1 }];
    if (superseded) counts.push({ camera: superseded.camera, className: superseded.className, verdict: superseded.verdict, delta: -1 });
    return this.after(verdict, counts);
  }

  /** `POST /api/cameras/{camera}/missed`; throws a VerdictRefusal for an unknown camera or a bad class, box or frame. */
  missed(camera: string, body: unknown): VerdictBody {
    expectRunningCamera(camera, this.deps.cameras());
    const request = parseMissedRequest(body, this.deps.classNames());
    const ts = this.deps.clock.now();
    const frameTs = request.frame.ts ?? ts;
    const context = this.deps.context?.(frameTs);
    const verdict: Verdict = {
      id: uuidv7(), alertId: null, camera, verdict: 'missed', className: request.className, box: request.box,
      frame: { width: request.frame.width, height: request.frame.height, ts: frameTs }, operator: request.operator, ts,
      ...(context ? { context } : {}),
    };
    this.deps.store.recordMissed(verdict);
    return this.after(verdict, [{ camera, className: verdict.className, verdict: 'missed', delta: 1 }]);
  }

  /**
   * `POST /api/verdicts/{verdictId}/withdraw`: the operator takes back a missed
   * defect drawn by mistake. Published as a verdict (`withdrawn: true`,
   * `replaces` the missed one), counted −1 missed, and left out of datasets and
   * model comparisons. Throws a VerdictRefusal for a bad body, an unknown
   * verdict, one that is not a missed defect, or one already withdrawn.
   */
  withdraw(verdictId: string, body: unknown): VerdictBody {
    const request = parseWithdrawRequest(body);
    const verdict = this.deps.store.withdrawMissed({ id: uuidv7(), verdictId, operator: request.operator, ts: this.deps.clock.now() });
    return this.after(verdict, [{ camera: verdict.camera, className: verdict.className, verdict: 'missed', delta: -1 }]);
  }

  /** The last `limit` missed defects and withdrawals, oldest first, as their verdict messages carried them. */
  recentMissed(limit: number): VerdictBody[] {
    return this.deps.store.recentMissed(limit).map(verdictBody);
  }

  /** Called with every stored verdict. */
  onVerdict(fn: (verdict: VerdictBody) => void): Unsubscribe {
    return this.told.add(fn);
  }

  /** The alerts, each with its latest verdict when it has one. */
  withVerdicts<A extends { id: string }>(alerts: readonly A[]): Array<A & { verdict?: AlertVerdictSummary }> {
    const latest = this.deps.store.latestVerdicts(alerts.map((a) => a.id));
    return alerts.map((a) => {
      const v = latest.get(a.id);
      return v ? { ...a, verdict: { verdict: v.verdict, operator: v.operator, ts: verdictBody(v).ts } } : a;
    });
  }

  private after(verdict: Verdict, counts: readonly VerdictCount[]): VerdictBody {
    const body = verdictBody(verdict);
    this.deps.log.info({ stage: 'verdicts', camera: verdict.camera, id: verdict.id, alert: verdict.alertId, verdict: verdict.verdict, replaces: verdict.replaces, withdrawn: verdict.withdrawn },
      verdict.withdrawn
        ? `operator ${JSON.stringify(verdict.operator)} withdrew missed defect ${String(verdict.replaces)}`
        : `operator ${JSON.stringify(verdict.operator)} judged ${verdict.alertId ? `alert ${verdict.alertId}` : 'a missed defect'}: ${verdict.verdict}`);
    this.safely('publish the verdict now (it waits in the outbox for the next poll)', () => this.deps.stored());
    this.safely('count the verdict in the statistics', () => this.deps.count(counts));
    this.safely('tell the pages about the verdict', () => this.told.emit(body));
    return body;
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.log.warn({ stage: 'verdicts', code: 'E_STORE', err: String(err) }, `could not ${what}`);
    }
  }
}
