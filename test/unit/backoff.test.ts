import { describe, expect, it } from 'vitest';
import { Backoff, retryDelay } from '../../src/backoff.js';

describe('retryDelay (exponential, full jitter)', () => {
  it('doubles the ceiling per failure up to the cap', () => {
    const top = () => 1;
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(n, 1000, 8000, top))).toEqual([1000, 2000, 4000, 8000, 8000]);
  });
  it('draws uniformly below the ceiling, down to zero', () => {
    const half = () => 0.5;
    expect([1, 2, 3, 4].map((n) => retryDelay(n, 1000, 60_000, half))).toEqual([500, 1000, 2000, 4000]);
    expect(retryDelay(10, 1000, 60_000, half)).toBe(30_000);
    expect(retryDelay(99, 1000, 60_000, () => 0)).toBe(0);
  });
  it('never overflows for a very long outage', () => {
    expect(retryDelay(10_000, 1000, 30_000, () => 1)).toBe(30_000);
  });
});

describe('Backoff', () => {
  it('counts consecutive failures and starts over after reset', () => {
    const b = new Backoff(1000, 8000, () => 1);
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(b.attempts).toBe(5);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(1000);
  });
});
