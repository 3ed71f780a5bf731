import { v7 as uuidv7 } from 'uuid';
import type { DefectEvent } from '../../src/types.js';

/** A plausible confirmed defect; `overrides` win. */
export function makeEvent(overrides: Partial<DefectEvent> = {}): DefectEvent {
  const ts = overrides.ts ?? Date.now();
  return {
    id: uuidv7(),
    camera: 'cam1',
    trackId: 1,
    classId: 0,
    className: 'scratch',
    confidence: 0.87,
    box: { x: 100, y: 120, w: 40, h: 30 },
    frame: { width: 1280, height: 720, ts: ts - 200 },
    ts,
    confirmedAt: ts + 35,
    ...overrides,
  };
}
