import { describe, expect, it } from 'vitest';
import { compareDefects, type JudgedDefect, type SeenDefect } from '../../src/models/compare.js';

const box = (x: number, y = 0, w = 10, h = 10) => ({ x, y, w, h });
const d = (camera: string, className: string, ts: number, x: number, verdict?: JudgedDefect['verdict']): JudgedDefect =>
  ({ camera, className, ts, box: box(x), ...(verdict ? { verdict } : {}) });

describe('compareDefects', () => {
  it('counts both / only active / only candidate per camera and class', () => {
    const active = [d('c1', 'red', 1000, 0), d('c1', 'red', 5000, 100), d('c1', 'blue', 1000, 50), d('c2', 'red', 1000, 0)];
    const candidate: SeenDefect[] = [
      d('c1', 'red', 1500, 2), // the first red: IoU 0.67, 500 ms apart
      d('c1', 'red', 9000, 100), // same place as the second red but 4 s later: not the same defect
      d('c2', 'red', 1200, 0),
      d('c2', 'green', 1000, 0),
    ];
    const result = compareDefects(active, candidate, []);
    expect(result.rows).toEqual([
      { camera: 'c1', className: 'blue', both: 0, onlyActive: 1, onlyCandidate: 0 },
      { camera: 'c1', className: 'red', both: 1, onlyActive: 1, onlyCandidate: 1 },
      { camera: 'c2', className: 'green', both: 0, onlyActive: 0, onlyCandidate: 1 },
      { camera: 'c2', className: 'red', both: 1, onlyActive: 0, onlyCandidate: 0 },
    ]);
    expect(result.active).toEqual({ tp: 0, fp: 0, fn: 0, precision: null, recall: null });
    expect(result.candidateUnjudged).toBe(4);
  });

  it('pairs one candidate defect with one alert only, the closest in time', () => {
    const active = [d('c', 'red', 1000, 0), d('c', 'red', 2000, 0)];
    const result = compareDefects(active, [d('c', 'red', 1900, 0)], []);
    expect(result.rows).toEqual([{ camera: 'c', className: 'red', both: 1, onlyActive: 1, onlyCandidate: 0 }]);
  });

  it('scores both models against the verdicts', () => {
    const active = [
      d('c', 'red', 1000, 0, 'confirmed'), // candidate finds it: tp for both
      d('c', 'red', 20_000, 0, 'confirmed'), // candidate misses it: fn for the candidate
      d('c', 'red', 40_000, 0, 'false_alarm'), // candidate repeats it: fp for both
      d('c', 'red', 60_000, 0, 'false_alarm'), // candidate avoids it
      d('c', 'red', 80_000, 0), // not judged
    ];
    const missed = [d('c', 'blue', 100_000, 0), d('c', 'blue', 120_000, 0)];
    const candidate = [d('c', 'red', 1000, 1), d('c', 'red', 40_000, 0), d('c', 'red', 80_000, 0), d('c', 'blue', 100_500, 1), d('c', 'green', 5000, 0)];
    const result = compareDefects(active, candidate, missed);
    // Active: 2 confirmed, 2 false alarms, 2 missed.
    expect(result.active).toEqual({ tp: 2, fp: 2, fn: 2, precision: 0.5, recall: 0.5 });
    // Candidate: tp = confirmed found (1) + missed found (1); fp = 1; fn = confirmed not found (1) + missed not found (1).
    expect(result.candidate).toEqual({ tp: 2, fp: 1, fn: 2, precision: 2 / 3, recall: 0.5 });
    // Unjudged: the one on the unjudged alert and the green one.
    expect(result.candidateUnjudged).toBe(2);
  });
});
