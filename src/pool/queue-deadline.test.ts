import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { QueueDeadline } from './queue-deadline.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('QueueDeadline: one timer for the whole queue', () => {
  it('fires once at the earliest deadline armed; a later deadline does not move it', () => {
    const due = vi.fn();
    const d = new QueueDeadline(due);
    const now = performance.now();
    d.arm(now + 100);
    d.arm(now + 500);
    vi.advanceTimersByTime(99);
    expect(due).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(due).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1_000);
    expect(due).toHaveBeenCalledTimes(1);
  });

  it('an earlier deadline brings it forward; clear() disarms it; Infinity arms nothing', () => {
    const due = vi.fn();
    const d = new QueueDeadline(due);
    const now = performance.now();
    d.arm(now + 500);
    d.arm(now + 50);
    vi.advanceTimersByTime(50);
    expect(due).toHaveBeenCalledTimes(1);
    d.arm(performance.now() + 10);
    d.clear();
    d.arm(Number.POSITIVE_INFINITY);
    vi.advanceTimersByTime(10_000);
    expect(due).toHaveBeenCalledTimes(1);
  });

  it('never fires before a fractional deadline', () => {
    const due = vi.fn();
    const d = new QueueDeadline(due);
    const now = performance.now();
    d.arm(now + 10.4, now);
    vi.advanceTimersByTime(10);
    expect(due).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(due).toHaveBeenCalledTimes(1);
  });
});
