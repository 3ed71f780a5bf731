import { isoTime } from '../clock.js';
import type { Verdict, VerdictKind } from '../store/types.js';
import type { Box, ProductionContext } from '../types.js';

/**
 * A verdict as the outside world sees it (the MQTT message without its
 * envelope, the overlay's API and its `verdict` message): snake_case, ISO times.
 */
export interface VerdictBody {
  id: string;
  alert_id: string | null;
  camera: string;
  verdict: VerdictKind;
  class: string;
  box: Box;
  frame: { width: number; height: number; ts: string };
  operator: string;
  ts: string;
  replaces?: string;
  /** The missed defect `replaces` names was taken back: there was none. */
  withdrawn?: true;
  /** The production context in force when the judged frame was captured, when the line had one. */
  context?: ProductionContext;
}

export function verdictBody(v: Verdict): VerdictBody {
  return {
    id: v.id,
    alert_id: v.alertId,
    camera: v.camera,
    verdict: v.verdict,
    class: v.className,
    box: { x: v.box.x, y: v.box.y, w: v.box.w, h: v.box.h },
    frame: { width: v.frame.width, height: v.frame.height, ts: isoTime(v.frame.ts) },
    operator: v.operator,
    ts: isoTime(v.ts),
    ...(v.replaces === undefined ? {} : { replaces: v.replaces }),
    ...(v.withdrawn ? { withdrawn: true as const } : {}),
    ...(v.context ? { context: v.context } : {}),
  };
}

