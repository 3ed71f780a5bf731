import { describe, expect, it } from 'vitest';
import { positiveIntValue, providersValue, unitValue } from '../../src/commands/values.js';

function thrown(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a throw');
}

describe('command-line option values', () => {
  it('reads numbers in range and refuses the rest with E_CLI naming the option', () => {
    expect(unitValue('0.25', '--confidence')).toBe(0.25);
    expect(unitValue('1', '--iou')).toBe(1);
    expect(thrown(() => unitValue('1.5', '--iou'))).toMatchObject({ code: 'E_CLI', message: '--iou: expected a number between 0 and 1, received "1.5" (string)' });
    expect(thrown(() => unitValue('', '--iou'))).toMatchObject({ code: 'E_CLI' });
    expect(thrown(() => unitValue('abc', '--confidence')).message).toContain('received "abc"');
  });

  it('reads positive integers only', () => {
    expect(positiveIntValue('500', '--limit')).toBe(500);
    for (const bad of ['0', '-3', '2.5', 'ten', 'Infinity', '1e400']) {
      expect(thrown(() => positiveIntValue(bad, '--limit')).message).toBe(`--limit: expected a positive integer, received ${JSON.stringify(bad)} (string)`);
    }
  });

  it('reads a provider chain in order and refuses unknown names', () => {
    expect(providersValue('tensorrt, cuda,cpu', '--providers')).toEqual(['tensorrt', 'cuda', 'cpu']);
    expect(thrown(() => providersValue('gpu,cpu', '--providers')).message).toContain('expected a comma-separated list of tensorrt, cuda, cpu, received "gpu,cpu"');
  });
});
