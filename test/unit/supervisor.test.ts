import { describe, expect, it } from 'vitest';
import { onlyCamerasDiffer } from '../../src/app.js';
import { validateConfig } from '../../src/config/load.js';
import type { CameraConfig, Config } from '../../src/config/schema.js';
import { LinesightError } from '../../src/errors.js';
import { LineSupervisor, type SupervisorOptions } from '../../src/ops/supervisor.js';
import { captureLogger } from '../helpers/capture-log.js';

/*
 * The run/reload state machine on its own: configurations are real (validated
 * by the schema); the lines are small recorders of what the supervisor asked,
 * since starting real lines is what the reload test does through the CLI.
 */

function config(cameras: string[], confidence = 0.5): Config {
  const { config: cfg, problems } = validateConfig({ cameras: cameras.map((id) => ({ id, url: `${id}.mp4` })), model: { path: 'm.onnx', confidence } });
  if (!cfg) throw new Error(JSON.stringify(problems));
  return cfg;
}

class FakeLine {
  stopped = 0;
  reconfigured: string[][] = [];
  constructor(readonly config: Config, private readonly stopError?: Error) {}
  async reconfigureCameras(cameras: readonly CameraConfig[]): Promise<void> {
    this.reconfigured.push(cameras.map((c) => c.id));
  }
  async stop(): Promise<void> {
    this.stopped++;
    if (this.stopError) throw this.stopError;
  }
}

function harness(files: Array<Config | Error>, startFails: (c: Config) => Error | undefined = () => undefined) {
  const { log, at } = captureLogger('info');
  const started: FakeLine[] = [];
  const fatal: unknown[] = [];
  const events: string[] = [];
  let stopError: Error | undefined;
  const options: SupervisorOptions<FakeLine> = {
    load: () => {
      const next = files.shift();
      if (!next) throw new Error('test: no more files');
      if (next instanceof Error) throw next;
      return next;
    },
    start: async (c) => {
      const err = startFails(c);
      if (err) throw err;
      const line = new FakeLine(c, stopError);
      started.push(line);
      return line;
    },
    onlyCamerasDiffer,
    log,
    reloading: () => events.push('reloading'),
    reloaded: () => events.push('reloaded'),
    fatal: (err) => fatal.push(err),
  };
  return { options, started, fatal, events, at, failStops: (err: Error) => (stopError = err) };
}

describe('LineSupervisor', () => {
  it('refuses an invalid file and keeps the running line', async () => {
    const h = harness([config(['a']), new LinesightError('E_CONFIG', 'line.yaml: 1 problem(s)')]);
    const sup = await LineSupervisor.start(h.options);
    expect(await sup.reload()).toBe('refused');
    expect(h.started).toHaveLength(1);
    expect(sup.line).toBe(h.started[0]);
    expect(h.started[0].stopped).toBe(0);
    expect(h.at('error')[0]).toMatchObject({ code: 'E_CONFIG', msg: expect.stringContaining('reload refused') });
    expect(h.events).toEqual(['reloading', 'reloaded']);
  });

  it('changes cameras in place when only the camera list differs', async () => {
    const h = harness([config(['a']), config(['a', 'b'])]);
    const sup = await LineSupervisor.start(h.options);
    expect(await sup.reload()).toBe('cameras');
    expect(h.started).toHaveLength(1);
    expect(h.started[0].reconfigured).toEqual([['a', 'b']]);
    expect(sup.configuration.cameras.map((c) => c.id)).toEqual(['a', 'b']);
  });

  it('restarts the line when other settings change', async () => {
    const h = harness([config(['a']), config(['a'], 0.7)]);
    const sup = await LineSupervisor.start(h.options);
    expect(await sup.reload()).toBe('restarted');
    expect(h.started.map((l) => l.config.model.confidence)).toEqual([0.5, 0.7]);
    expect(h.started[0].stopped).toBe(1);
    expect(sup.line).toBe(h.started[1]);
  });

  it('goes back to the previous configuration when the new one does not start', async () => {
    const h = harness([config(['a']), config(['a'], 0.9)], (c) => (c.model.confidence === 0.9 ? new LinesightError('E_MODEL_LOAD', 'bad model') : undefined));
    const sup = await LineSupervisor.start(h.options);
    expect(await sup.reload()).toBe('reverted');
    expect(h.started.map((l) => l.config.model.confidence)).toEqual([0.5, 0.5]);
    expect(sup.configuration.model.confidence).toBe(0.5);
    expect(h.at('error').map((l) => l.code)).toEqual(['E_MODEL_LOAD']);
    expect(h.fatal).toEqual([]);
  });

  it('logs a line that does not stop cleanly, still starts the next, and reports a line it cannot bring back', async () => {
    let failing = false;
    const h = harness([config(['a']), config(['a'], 0.8)], () => (failing ? new LinesightError('E_STORE', 'disk gone') : undefined));
    h.failStops(new Error('worker did not exit'));
    const sup = await LineSupervisor.start(h.options);
    failing = true;
    expect(await sup.reload()).toBe('down');
    expect(sup.line).toBeUndefined();
    expect(h.fatal).toHaveLength(1);
    const errors = h.at('error').map((l) => l.msg);
    expect(errors[0]).toContain('did not stop cleanly');
    expect(errors.at(-1)).toContain('the line is down');
    // Nothing left rejected: a later reload and stop still work.
    await expect(sup.stop()).resolves.toBeUndefined();
  });

  it('runs reloads one at a time and stops only after the one in progress', async () => {
    const h = harness([config(['a']), config(['a', 'b']), config(['a', 'b', 'c'])]);
    const sup = await LineSupervisor.start(h.options);
    const first = sup.reload();
    const second = sup.reload();
    await Promise.resolve();
    expect(h.events).toEqual(['reloading']); // the first is under way, the second waits
    const stopped = sup.stop();
    expect(await Promise.all([first, second])).toEqual(['cameras', 'stopped']);
    await stopped;
    expect(h.started[0].reconfigured).toEqual([['a', 'b']]);
    expect(h.started[0].stopped).toBe(1);
  });
});
