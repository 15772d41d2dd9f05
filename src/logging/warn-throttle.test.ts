import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WarnThrottle } from './warn-throttle.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'warn' }, { write: (chunk: string) => void lines.push(JSON.parse(chunk)) });
  return { logger, lines };
}

describe('WarnThrottle', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes the first at once, then one line per interval with the count and the latest content', () => {
    const { logger, lines } = capture();
    const throttle = new WarnThrottle(logger, 1_000);
    for (let i = 1; i <= 5; i++) throttle.note(() => ({ fields: { n: i }, msg: `m${i}` }));
    expect(lines).toMatchObject([{ n: 1, count: 1, msg: 'm1' }]);
    vi.advanceTimersByTime(999);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ n: 5, count: 4, msg: 'm5 (4 times since the last line)' });
    // Quiet for a while: the next one is written at once again.
    vi.advanceTimersByTime(5_000);
    throttle.note(() => ({ fields: { n: 6 }, msg: 'm6' }));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ n: 6, count: 1 });
  });

  it('flush writes what is owed at once and stops the timer; nothing owed, nothing written', () => {
    const { logger, lines } = capture();
    const throttle = new WarnThrottle(logger, 1_000);
    throttle.flush();
    expect(lines).toHaveLength(0);
    throttle.note(() => ({ fields: {}, msg: 'a' }));
    throttle.note(() => ({ fields: {}, msg: 'b' }));
    throttle.flush();
    expect(lines.map((l) => l.count)).toEqual([1, 1]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does nothing with warn disabled, and never builds the line', () => {
    const build = vi.fn(() => ({ fields: {}, msg: 'x' }));
    const throttle = new WarnThrottle(pino({ level: 'error' }), 1_000);
    throttle.note(build);
    throttle.flush();
    expect(build).not.toHaveBeenCalled();
  });
});
