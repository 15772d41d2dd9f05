import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { OwnStatements } from './own-statements.js';
import type { StatementAhead } from './pg-queries.js';
import { isStaleStatementError, isVanishedAhead } from './stale-errors.js';
import { StatementPolicy, statementName } from './statement-policy.js';

function dbError(code: string): Error {
  return Object.assign(new Error(`error ${code}`), { code });
}

function ahead(text: string, log: string[], mayName?: boolean): StatementAhead {
  return {
    text,
    mayName,
    done: (err, value) => log.push(`${text}: ${err ? (err as { code?: string }).code : value}`),
    carried: (named) => log.push(`${text} carried${named ? ' named' : ''}`),
  };
}

describe('OwnStatements', () => {
  it('names each text as the cache does; parsed until its first run answered, then only bound', () => {
    const policy = new StatementPolicy(8, pino({ level: 'silent' }));
    const own = new OwnStatements(policy, () => undefined);
    const log: string[] = [];
    const first = own.name([ahead('BEGIN', log), ahead('select 1', log)]);
    expect(first?.parsing).toBe(true);
    expect(first?.statements.map((s) => [s.name, s.parse])).toEqual([
      [statementName('BEGIN'), true],
      [statementName('select 1'), true],
    ]);
    first?.statements[0]?.carried?.();
    first?.statements[0]?.done(null, null);
    first?.statements[1]?.done(null, '7');
    expect(log).toEqual(['BEGIN carried named', 'BEGIN: null', 'select 1: 7']);
    const second = own.name([ahead('BEGIN', log), ahead('select 1', log)]);
    expect(second?.parsing).toBe(false);
    expect(second?.statements.map((s) => s.parse)).toEqual([false, false]);
    // A run that failed before its answer (its Parse may not have happened): parsed again next time.
    own.name([ahead('BEGIN ISOLATION LEVEL SERIALIZABLE', log)])?.statements[0]?.done(dbError('57014'), null);
    expect(own.name([ahead('BEGIN ISOLATION LEVEL SERIALIZABLE', log)])?.statements[0]?.parse).toBe(true);
    own.clear();
    expect(own.name([ahead('BEGIN', log)])?.statements[0]?.parse).toBe(true);
  });

  it('one that may not be named sends the flight as before', () => {
    const own = new OwnStatements(new StatementPolicy(8, pino({ level: 'silent' })), () => undefined);
    expect(own.name([ahead('BEGIN', [], false)])).toBeUndefined();
    expect(own.name([ahead('select 1', []), ahead('BEGIN', [], false)])).toBeUndefined();
  });

  it('26000 on one only bound: claimed by the first, stale, counted once, and the session loss reported', () => {
    const policy = new StatementPolicy(8, pino({ level: 'silent' }));
    let lost = 0;
    const own = new OwnStatements(policy, () => {
      lost++;
    });
    const log: string[] = [];
    for (const s of own.name([ahead('BEGIN', log), ahead('select 1', log)])?.statements ?? [])
      s.done(null, null);
    const flight = own.name([ahead('BEGIN', log), ahead('select 1', log)])?.statements ?? [];
    const err = dbError('26000');
    for (const s of flight) s.done(err, null);
    expect(lost).toBe(1);
    expect(policy.recoveries).toBe(1);
    expect(isVanishedAhead(err)).toBe(true);
    expect(isStaleStatementError(err)).toBe(true);
    // A 26000 that is not a bound one's own (a Parse in the flight), or another code: nothing counted.
    const other = dbError('25P02');
    for (const s of own.name([ahead('select 2', log)])?.statements ?? []) s.done(dbError('26000'), null);
    for (const s of own.name([ahead('BEGIN', log)])?.statements ?? []) s.done(other, null);
    expect(lost).toBe(1);
    expect(isStaleStatementError(other)).toBe(false);
  });
});
