import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { missingRanges, parseReplay } from '../../src/mes/commands-parse.js';

/** Refused without a request_id to answer. */
const unanswerable = (r: ReturnType<typeof parseReplay>) => !r.ok && r.requestId === undefined && r.code === 'malformed';
const parse = (body: unknown, max = 100) => parseReplay(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), max);

describe('replay commands', () => {
  it('reads a well-formed request', () => {
    expect(parse({ request_id: 'r1', camera: 'cam1', from_seq: 5, to_seq: 104 })).toEqual({ ok: true, request: { requestId: 'r1', camera: 'cam1', fromSeq: 5, toSeq: 104 } });
    expect(parse({ request_id: 'r1', camera: 'cam1', from_seq: 7, to_seq: 7 }, 1)).toMatchObject({ ok: true });
  });

  it('refuses what it cannot run, keeping the request_id when there is one', () => {
    expect(unanswerable(parse('not json'))).toBe(true);
    expect(unanswerable(parse([1, 2]))).toBe(true);
    expect(unanswerable(parse({ camera: 'cam1', from_seq: 1, to_seq: 2 }))).toBe(true);
    expect(unanswerable(parse({ request_id: 7, camera: 'cam1', from_seq: 1, to_seq: 2 }))).toBe(true);
    expect(unanswerable(parse({ request_id: 'x'.repeat(201), camera: 'cam1', from_seq: 1, to_seq: 2 }))).toBe(true);
    expect(parse({ request_id: 'r', camera: '', from_seq: 1, to_seq: 2 })).toMatchObject({ requestId: 'r', code: 'malformed' });
    expect(parse({ request_id: 'r', camera: 'cam1', from_seq: 0, to_seq: 2 })).toMatchObject({ code: 'malformed', message: 'Expected from_seq to be an integer ≥ 1 but received 0 (number)' });
    expect(parse({ request_id: 'r', camera: 'cam1', from_seq: 1.5, to_seq: 2 })).toMatchObject({ code: 'malformed' });
    expect(parse({ request_id: 'r', camera: 'cam1', from_seq: 1 })).toMatchObject({ code: 'malformed', message: 'Expected to_seq to be an integer ≥ 1 but received nothing' });
    expect(parse({ request_id: 'r', camera: 'cam1', from_seq: 9, to_seq: 8 })).toMatchObject({ code: 'bad_range' });
    expect(parse({ request_id: 'r', camera: 'cam1', from_seq: 1, to_seq: 101 })).toMatchObject({ code: 'range_too_large', message: expect.stringContaining('holds 101') });
    expect(unanswerable(parseReplay(Buffer.alloc(20_000, 32), 100))).toBe(true);
  });

  it('names the ranges the history no longer has', () => {
    expect(missingRanges(1, 10, [])).toEqual([[1, 10]]);
    expect(missingRanges(1, 10, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toEqual([]);
    expect(missingRanges(1, 10, [4, 5, 8])).toEqual([[1, 3], [6, 7], [9, 10]]);
    expect(missingRanges(5, 6, [1, 6, 9])).toEqual([[5, 5]]);
  });
});

describe('mes configuration', () => {
  const base = { cameras: [{ id: 'cam1', url: 'a.mp4' }], model: { path: 'm.onnx' } };
  it('has defaults: three shifts in the box\'s zone, replays of up to 1000 alerts at 50 per second', () => {
    const { config } = validateConfig(base);
    expect(config!.mes).toEqual({ shifts: ['06:00', '14:00', '22:00'], replay_max: 1000, replay_rate: 50 });
  });

  it('names a bad shift time, a repeated one, an unknown zone and an unknown key', () => {
    const { problems } = validateConfig({ ...base, mes: { shifts: ['6:00', '14:00', '14:00'], timezone: 'Mars/Olympus', replay_max: 0, nope: 1 } });
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['mes.shifts[0]', 'mes.shifts', 'mes.timezone', 'mes.replay_max', 'mes.nope']));
    expect(validateConfig({ ...base, mes: { shifts: [], timezone: 'Europe/Berlin' } }).problems).toEqual([]);
  });
});
