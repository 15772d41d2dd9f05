import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StatementPolicy, statementName, VANISH_LIMIT } from './statement-policy.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'warn' }, { write: (chunk: string) => lines.push(JSON.parse(chunk)) });
  return { log, lines };
}

describe('statementName', () => {
  it('is the same for the same text, different for different texts, and fits PostgreSQL names (63 bytes)', () => {
    const a = statementName('select $1::int');
    expect(statementName('select $1::int')).toBe(a);
    expect(statementName('select $1::int ')).not.toBe(a);
    expect(a).toMatch(/^pgs_[0-9a-f]{40}$/);
    expect(Buffer.byteLength(statementName('é'.repeat(10_000)))).toBeLessThanOrEqual(63);
    expect(statementName('')).toMatch(/^pgs_/);
  });
});

describe('StatementPolicy', () => {
  it(`turns prepare off at the ${VANISH_LIMIT}rd vanished statement, with one stmt.disabled line`, () => {
    const { log, lines } = capture();
    const policy = new StatementPolicy(256, log);
    for (let i = 1; i < VANISH_LIMIT; i++) {
      policy.noteVanished('26000');
      expect(policy.enabled).toBe(true);
    }
    policy.noteVanished('42P05');
    expect(policy.enabled).toBe(false);
    policy.noteVanished('26000');
    policy.noteVanished('26000');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ event: 'stmt.disabled', vanished: VANISH_LIMIT, lastCode: '42P05' });
    expect(String(lines[0]?.msg)).toMatch(/PgBouncer before 1\.21/);
    expect(String(lines[0]?.msg)).toMatch(/prepare: false/);
    expect(policy.stats().enabled).toBe(false);
  });

  it('stats: hit ratio 0 before any statement, hits / (hits + misses) after', () => {
    const policy = new StatementPolicy(2, pino({ level: 'silent' }));
    expect(policy.stats()).toEqual({
      enabled: true,
      prepared: 0,
      hits: 0,
      misses: 0,
      hitRatio: 0,
      evictions: 0,
      recoveries: 0,
    });
    policy.hits = 3;
    policy.misses = 1;
    expect(policy.stats().hitRatio).toBe(0.75);
    expect(policy.capacity).toBe(2);
  });
});
