import { describe, expect, it } from 'vitest';
import { Closers } from '../../src/ops/closers.js';
import { captureLogger } from '../helpers/capture-log.js';

describe('Closers', () => {
  it('closes in the reverse order of opening', async () => {
    const { log } = captureLogger();
    const closed: string[] = [];
    const closers = new Closers(log);
    await closers.open('model', () => 'm', () => closed.push('model'));
    await closers.open('store', async () => 's', () => closed.push('store'));
    closers.add('timer', () => closed.push('timer'));
    await closers.closeAll();
    expect(closed).toEqual(['timer', 'store', 'model']);
    await closers.closeAll(); // nothing left: a second stop is harmless
    expect(closed).toHaveLength(3);
  });

  it('unwinds what was opened when a later open fails, and rethrows that failure', async () => {
    const { log } = captureLogger();
    const closed: string[] = [];
    const closers = new Closers(log);
    await closers.open('model', () => 'm', () => closed.push('model'));
    await closers.open('store', () => 's', () => closed.push('store'));
    const failure = Object.assign(new Error('port 8080 in use'), { code: 'E_OVERLAY_LISTEN' });
    await expect(closers.open('overlay', () => Promise.reject(failure), () => closed.push('overlay'))).rejects.toBe(failure);
    expect(closed).toEqual(['store', 'model']);
  });

  it('runs every closer when one fails, logs it by name and rethrows the first failure at the end', async () => {
    const { log, at } = captureLogger();
    const closed: string[] = [];
    const closers = new Closers(log);
    closers.add('model', () => closed.push('model'));
    closers.add('publisher', () => Promise.reject(new Error('broker gone')));
    closers.add('overlay', () => closed.push('overlay'));
    await expect(closers.closeAll()).rejects.toThrow('broker gone');
    expect(closed).toEqual(['overlay', 'model']);
    expect(at('error')).toEqual([expect.objectContaining({ resource: 'publisher', err: 'broker gone', msg: 'could not close the publisher cleanly' })]);
  });
});
