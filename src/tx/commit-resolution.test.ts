import { describe, expect, it } from 'vitest';
import {
  captureXidSql,
  classifyXactStatus,
  isServerAnswer,
  lostCommitVerdict,
  pollDelayMillis,
  RESOLVE_BOUND_MILLIS,
  resolveUntil,
  xactStatusSql,
} from './commit-resolution.js';

const serverError = (code: string, severity = 'ERROR') =>
  Object.assign(new Error(`server said ${code}`), { code, severity });

describe('classifyXactStatus: what pg_xact_status said', () => {
  it('committed, aborted and in progress are what they say', () => {
    expect(classifyXactStatus('committed')).toBe('committed');
    expect(classifyXactStatus('aborted')).toBe('aborted');
    expect(classifyXactStatus('in progress')).toBe('inProgress');
  });

  it('NULL (an id too old to know) and anything else are unknown', () => {
    for (const value of [null, undefined, '', 'COMMITTED', 'prepared', 1, {}]) {
      expect(classifyXactStatus(value), String(value)).toBe('unknown');
    }
  });
});

describe('the SQL by server version', () => {
  it('PostgreSQL 13 and later: pg_current_xact_id_if_assigned and pg_xact_status (xid8)', () => {
    for (const version of [130_000, 150_004, 180_000]) {
      expect(captureXidSql(version)).toContain('pg_current_xact_id_if_assigned()');
      expect(xactStatusSql(version)).toContain('pg_xact_status($1::xid8)');
    }
  });

  it('PostgreSQL 10 to 12, or a server that reported no version: txid_current_if_assigned and txid_status', () => {
    for (const version of [100_000, 120_016, 129_999, undefined]) {
      expect(captureXidSql(version)).toContain('txid_current_if_assigned()');
      expect(xactStatusSql(version)).toContain('txid_status($1::bigint)');
    }
  });

  it('the id comes back as text: a 64-bit id never loses digits in a JavaScript number', () => {
    expect(captureXidSql(150_000)).toMatch(/::text as xid$/);
    expect(captureXidSql(undefined)).toMatch(/::text as xid$/);
  });
});

describe('lostCommitVerdict: what a COMMIT lost in flight is, given the answer about its id', () => {
  it('an id answered: ask the server', () => {
    expect(lostCommitVerdict({ xid: '7312' })).toBe('ask');
  });

  it('the server refused the statement before COMMIT: it never read the COMMIT, so nothing committed', () => {
    expect(lostCommitVerdict('refused')).toBe('aborted');
  });

  it('no id asked for, none answered, or the transaction had none: unknown', () => {
    expect(lostCommitVerdict('notAsked')).toBe('unknown');
    expect(lostCommitVerdict('pending')).toBe('unknown');
    expect(lostCommitVerdict({ xid: null })).toBe('unknown');
  });
});

describe('isServerAnswer: the server answered, or the connection failed under the statement', () => {
  it('a server error (SQLSTATE and severity), a terminated backend FATAL included', () => {
    expect(isServerAnswer(serverError('57P01', 'FATAL'))).toBe(true);
    expect(isServerAnswer(serverError('25P02'))).toBe(true);
  });

  it('Node socket errors, pg connection messages, read timeouts and odd values are not', () => {
    expect(isServerAnswer(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(false);
    expect(isServerAnswer(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isServerAnswer(new Error('Query read timeout'))).toBe(false);
    expect(isServerAnswer(Object.assign(new Error('x'), { code: '57P01' }))).toBe(false);
    for (const value of [null, undefined, '57P01', 42]) expect(isServerAnswer(value)).toBe(false);
  });
});

describe('the bound and the pauses', () => {
  it('resolveUntil: 5 s from now, or the scope deadline when it comes first', () => {
    expect(resolveUntil(1_000, undefined)).toBe(1_000 + RESOLVE_BOUND_MILLIS);
    expect(resolveUntil(1_000, 2_500)).toBe(2_500);
    expect(resolveUntil(1_000, 60_000)).toBe(1_000 + RESOLVE_BOUND_MILLIS);
    // A deadline already past: nothing left to ask with.
    expect(resolveUntil(1_000, 900)).toBe(900);
  });

  it('pollDelayMillis: doubles from 10 ms, capped at 250 ms', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(pollDelayMillis)).toEqual([10, 20, 40, 80, 160, 250, 250, 250]);
    expect(pollDelayMillis(0)).toBe(10);
  });
});
