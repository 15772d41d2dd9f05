import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommitUnknownError, TransactionRolledBackError } from '../errors.js';
import { isRetryable, retryDelayMillis } from './retry.js';

const withCode = (code: string) => Object.assign(new Error(`failed: ${code}`), { code });
const retry = { maxAttempts: 5, baseDelayMillis: 10, maxDelayMillis: 100 };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('retryDelayMillis: exponential, capped, with equal jitter', () => {
  it('lies between half the ceiling and the ceiling, the ceiling doubling up to maxDelayMillis', () => {
    const ceilings = [10, 20, 40, 80, 100, 100];
    for (const [i, ceiling] of ceilings.entries()) {
      vi.spyOn(Math, 'random').mockReturnValue(0);
      expect(retryDelayMillis(i + 1, retry)).toBe(Math.round(ceiling / 2));
      vi.spyOn(Math, 'random').mockReturnValue(0.999_999);
      expect(retryDelayMillis(i + 1, retry)).toBe(ceiling);
    }
  });

  it('never exceeds the longest delay a timer honours, whatever the options', () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const huge = { maxAttempts: 100, baseDelayMillis: 1e9, maxDelayMillis: Number.POSITIVE_INFINITY };
    expect(retryDelayMillis(60, huge)).toBe(2 ** 31 - 1);
  });
});

describe('isRetryable', () => {
  it('serialization failure and deadlock, also inside TransactionRolledBackError; a lost connection', () => {
    expect(isRetryable(withCode('40001'))).toBe(true);
    expect(isRetryable(withCode('40P01'))).toBe(true);
    expect(isRetryable(new TransactionRolledBackError(withCode('40001')))).toBe(true);
    expect(isRetryable(withCode('ECONNRESET'))).toBe(true);
  });

  it('not a refused statement, and never an unknown COMMIT outcome (the work could apply twice)', () => {
    expect(isRetryable(withCode('23505'))).toBe(false);
    expect(isRetryable(new Error('boom'))).toBe(false);
    expect(isRetryable(new CommitUnknownError(withCode('ECONNRESET')))).toBe(false);
  });
});
