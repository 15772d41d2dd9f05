import { describe, expect, it } from 'vitest';
import { classifyCommit } from './commit-outcome.js';

const withCode = (code: string) => Object.assign(new Error(`failed: ${code}`), { code });

describe('classifyCommit: what the answer to COMMIT means', () => {
  it('COMMIT answered COMMIT: committed; answered ROLLBACK (the transaction had failed): rolled back', () => {
    expect(classifyCommit({ ok: true, command: 'COMMIT' })).toBe('committed');
    expect(classifyCommit({ ok: true, command: 'ROLLBACK' })).toBe('rolledBack');
  });

  it('the server refused it (deferred constraint, serialization failure): refused, the transaction is over', () => {
    expect(classifyCommit({ ok: false, err: withCode('23505') })).toBe('refused');
    expect(classifyCommit({ ok: false, err: withCode('40001') })).toBe('refused');
  });

  it('pg sent nothing (the connection was already gone): lost, nothing committed', () => {
    const err = new Error('Client has encountered a connection error and is not queryable');
    expect(classifyCommit({ ok: false, err })).toBe('lost');
  });

  it('the connection died with COMMIT in flight, or pg timed it out: unknown', () => {
    expect(classifyCommit({ ok: false, err: new Error('Connection terminated unexpectedly') })).toBe(
      'unknown',
    );
    expect(classifyCommit({ ok: false, err: withCode('ECONNRESET') })).toBe('unknown');
    expect(classifyCommit({ ok: false, err: withCode('57P01') })).toBe('unknown');
    expect(classifyCommit({ ok: false, err: new Error('Query read timeout') })).toBe('unknown');
  });
});
