import { describe, expect, it } from 'vitest';
import { ConnectGate } from './connect-gate.js';

describe('ConnectGate: pacing of connection attempts', () => {
  it('healthy: no delay; after failures, an exponential backoff with ±20% jitter, capped at 2 s', () => {
    const gate = new ConnectGate();
    expect(gate.delayMillis(0)).toBe(0);
    const ceilings = [100, 200, 400, 800, 1_600, 2_000, 2_000];
    for (const [i, ceiling] of ceilings.entries()) {
      gate.failed(new Error('refused'), false, 1_000);
      expect(gate.failures).toBe(i + 1);
      const delay = gate.delayMillis(1_000);
      expect(delay).toBeGreaterThanOrEqual(ceiling * 0.8);
      expect(delay).toBeLessThanOrEqual(ceiling * 1.2);
    }
    expect(gate.lastFailureAt).toBe(1_000);
    expect(gate.delayMillis(1_000 + 2_400)).toBe(0);
  });

  it('a success resets the count, the delay and the permanent flag; the last failure is kept for messages', () => {
    const gate = new ConnectGate();
    const err = new Error('password authentication failed');
    gate.failed(err, true, 0);
    expect(gate.permanent).toBe(true);
    gate.succeeded();
    expect([gate.failures, gate.delayMillis(0), gate.permanent]).toEqual([0, 0, false]);
    expect(gate.lastFailure).toBe(err);
  });

  it('delayBefore: the backoff, unless it would end past the waiter’s last chance (deadline - lead)', () => {
    const gate = new ConnectGate();
    gate.failed(new Error('refused'), false, 0);
    gate.failed(new Error('refused'), false, 0);
    gate.failed(new Error('refused'), false, 0);
    gate.failed(new Error('refused'), false, 0);
    gate.failed(new Error('refused'), false, 0);
    // Backoff now 1 280..1 920 ms from t=0.
    const backoff = gate.delayMillis(0);
    expect(gate.delayBefore(undefined, 300, 0)).toBe(backoff);
    expect(gate.delayBefore(Number.POSITIVE_INFINITY, 300, 0)).toBe(backoff);
    // A waiter whose deadline is far away waits the whole backoff.
    expect(gate.delayBefore(10_000, 300, 0)).toBe(backoff);
    // Deadline at 1 000: the last chance is 700, so the attempt is brought forward to 700.
    expect(gate.delayBefore(1_000, 300, 0)).toBe(700);
    // ...never sooner than the first backoff step (100 ms) after the last failure.
    expect(gate.delayBefore(350, 300, 0)).toBe(100);
    // A failure at or after the last chance: the backoff runs its course.
    gate.failed(new Error('refused'), false, 800);
    expect(gate.delayBefore(1_000, 300, 800)).toBe(gate.delayMillis(800));
  });
});
