import type { Clock } from '../clock.js';
import type { CameraConfig, Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Publisher } from '../publish/index.js';
import type { TopicRoot } from '../publish/topics.js';
import type { Db } from '../store/db.js';
import type { ModelRef } from '../store/types.js';
import { ReplayCommands } from './commands-service.js';
import { shiftPlan } from './shift-clock.js';
import { ShiftSummaries } from './shift-service.js';

export interface Reconciliation {
  /** Per-shift summaries; undefined when `mes.shifts` is empty. */
  readonly shifts: ShiftSummaries | undefined;
  readonly commands: ReplayCommands;
  close(): void;
}

export interface ReconciliationDeps {
  /** The store's connection (its statistics' `db`): the alert history, the statistics and the reconciliation tables. */
  db: Db;
  publisher: Pick<Publisher, 'publishRaw' | 'subscribe' | 'onConnect'>;
  /** The detector, for alerts recorded without one. */
  model: ModelRef;
  /** The cameras of the current config, disabled ones included (read at each boundary and request: a reload may change them). */
  cameras: () => readonly CameraConfig[];
  clock: Clock;
  log: Logger;
  /** Shift summaries wait this long after a boundary (tests shorten it). Default 30 s. */
  settleMs?: number;
}

/**
 * What lets an MES prove it has every alert, and ask for the ones it has not:
 * per-shift summaries per camera and replays on request (docs/mqtt.md,
 * "Shift summaries" and "Replay on request").
 */
export function startReconciliation(config: Config, deps: ReconciliationDeps): Reconciliation {
  const root: TopicRoot = { prefix: config.mqtt.topic_prefix, site: config.site, line: config.line };
  const cameras = () => deps.cameras().filter((c) => c.enabled).map((c) => c.id);
  const mes = config.mes;
  const shifts = mes.shifts.length === 0 ? undefined : new ShiftSummaries({
    db: deps.db, plan: shiftPlan(mes.shifts, mes.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone), root, cameras,
    publisher: deps.publisher, clock: deps.clock, log: deps.log, retentionDays: config.store.retention_days, settleMs: deps.settleMs,
  });
  const commands = new ReplayCommands({
    db: deps.db, root, payload: { site: config.site, line: config.line, model: deps.model },
    cameras: () => deps.cameras().map((c) => c.id), publisher: deps.publisher, clock: deps.clock, log: deps.log,
    maxRange: mes.replay_max, rate: mes.replay_rate, retentionDays: config.store.retention_days,
  });
  shifts?.start();
  commands.start();
  return {
    shifts, commands,
    close() {
      commands.close();
      shifts?.close();
    },
  };
}
