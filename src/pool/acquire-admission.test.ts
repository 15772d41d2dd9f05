import { describe, expect, it } from 'vitest';
import { type AdmissionState, admission } from './acquire-admission.js';

const base: AdmissionState = {
  timeoutMillis: 1_000,
  first: false,
  max: 4,
  maxWaiting: 10,
  borrowed: 4,
  waiting: 0,
  size: 4,
  refusedForGood: false,
};

describe('admission: may a caller wait, or does it fail at once', () => {
  it('waits while the queue has room', () => {
    expect(admission(base)).toBeUndefined();
    expect(admission({ ...base, waiting: 9 })).toBeUndefined();
  });

  it('timeout 0: fails fast when every connection is borrowed or promised to an earlier waiter', () => {
    expect(admission({ ...base, timeoutMillis: 0 })).toBe('no-wait');
    expect(admission({ ...base, timeoutMillis: 0, borrowed: 3, waiting: 1 })).toBe('no-wait');
    // The caller came first (its idle connection was broken): the waiters behind it do not count.
    expect(admission({ ...base, timeoutMillis: 0, borrowed: 3, waiting: 1, first: true })).toBeUndefined();
    // A connection the pool may still open is one to wait for.
    expect(admission({ ...base, timeoutMillis: 0, borrowed: 2, size: 2 })).toBeUndefined();
  });

  it('queue-full at maxWaiting, plus one place per connection the pool could still open', () => {
    expect(admission({ ...base, waiting: 10 })).toBe('queue-full');
    expect(admission({ ...base, maxWaiting: 0 })).toBe('queue-full');
    expect(admission({ ...base, maxWaiting: 0, borrowed: 2, size: 2, waiting: 1 })).toBeUndefined();
    expect(admission({ ...base, maxWaiting: 0, borrowed: 2, size: 2, waiting: 2 })).toBe('queue-full');
  });

  it('connect-error when the server refuses for good and only a new connection could serve the caller', () => {
    expect(admission({ ...base, borrowed: 0, size: 0, refusedForGood: true })).toBe('connect-error');
    // A full pool: the caller waits for a borrowed connection to come back instead.
    expect(admission({ ...base, refusedForGood: true })).toBeUndefined();
  });
});
