import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  CommitUnknownError,
  ConfigError,
  ConnectError,
  NestedAcquireError,
  PoolClosedError,
  PoolExhaustedError,
  SavepointOpenError,
  ScopeClosedError,
  TransactionRolledBackError,
  TransactionTimeoutError,
} from './errors.js';
import type { PoolStats } from './stats.js';

const SECRET = 'Err-Pw-SECRET';

const stats: PoolStats = {
  max: 1,
  min: 0,
  size: 1,
  idle: 0,
  borrowed: 1,
  waiting: 0,
  acquired: 1,
  created: 1,
  destroyed: 0,
  exhausted: 1,
  commits: 0,
  rollbacks: 0,
  longestBorrowMillis: 0,
};

/** Node's ERR_INVALID_URL, as pg's connection-string parser throws it: the whole string is in `input`. */
function invalidUrlError(): unknown {
  try {
    new URL(`postgres://app:${SECRET}@db:notaport/app`);
  } catch (err) {
    return err;
  }
  throw new Error('expected URL to throw');
}

describe('error serialisation', () => {
  const urlError = invalidUrlError();
  const serverError = Object.assign(new Error(`relation "x" does not exist ${'z'.repeat(20_000)}`), {
    code: '42P01',
    where: `SQL function with postgres://app:${SECRET}@db/app`,
    internalQuery: SECRET,
  });
  const connect = new ConnectError(`could not connect: postgres://app:${SECRET}@db/app`, urlError);
  const all = [
    new ConfigError(`host`, `got postgres://app:${SECRET}@db/app`),
    new PoolExhaustedError('timeout', stats, 12, connect),
    new PoolClosedError(),
    connect,
    new ScopeClosedError('cannot query: the scope has ended'),
    new TransactionRolledBackError(serverError),
    new CommitUnknownError(urlError),
    new TransactionTimeoutError(50),
    new NestedAcquireError(),
    new SavepointOpenError('commit', 't1.1'),
  ];

  it('never shows a URL password or a cause field outside the summary', () => {
    expect((urlError as { input?: string }).input).toContain(SECRET);
    for (const err of all) {
      const text = [
        err.message,
        err.stack,
        JSON.stringify(err),
        JSON.stringify({ err }),
        inspect(err, { depth: 10 }),
        inspect(err, { depth: 10, showHidden: true }),
        inspect({ wrapped: err }, { depth: 10, showHidden: true }),
      ].join('\n');
      expect(text, err.name).not.toContain(SECRET);
    }
  });

  it('JSON carries name, code, message, own fields and the cause summary', () => {
    const exhausted = JSON.parse(JSON.stringify(all[1]));
    expect(exhausted).toMatchObject({
      name: 'PoolExhaustedError',
      code: 'POOL_EXHAUSTED',
      reason: 'timeout',
      stats,
      waitedMillis: 12,
      cause: {
        type: 'ConnectError',
        code: 'CONNECT_FAILED',
        cause: { type: 'TypeError', code: 'ERR_INVALID_URL' },
      },
    });
    expect(exhausted.message).toContain('pool exhausted');
    expect(JSON.parse(JSON.stringify(all[0]))).toMatchObject({ code: 'INVALID_CONFIG', field: 'host' });
    expect(JSON.parse(JSON.stringify(all[7]))).toMatchObject({ code: 'TX_TIMEOUT', timeoutMillis: 50 });
  });

  it('keeps the cause itself untouched, and cuts its long text in the summary', () => {
    const rolledBack = all[5] as TransactionRolledBackError;
    expect(rolledBack.cause).toBe(serverError);
    const json = JSON.parse(JSON.stringify(rolledBack));
    expect(json.cause).toMatchObject({ code: '42P01' });
    expect(json.cause).not.toHaveProperty('where');
    const note = `[truncated: ${serverError.message.length} characters in all]`;
    expect(json.cause.message.endsWith(note)).toBe(true);
    expect(JSON.stringify(json).length).toBeLessThan(20_000);
  });

  it('inspect shows the stack and the fields', () => {
    const text = inspect(all[1]);
    expect(text).toContain('PoolExhaustedError: pool exhausted');
    expect(text).toContain("code: 'POOL_EXHAUSTED'");
    expect(text).toContain("reason: 'timeout'");
  });

  it('redacts a URL password in a message the library builds', () => {
    expect(all[0]?.message).toBe('invalid option host: got postgres://app:[redacted]@db/app');
  });
});

describe('PoolExhaustedError message', () => {
  it('says when the caller timed out waiting for a connection still being opened', () => {
    const slow = { ...stats, max: 3, size: 2, idle: 0, borrowed: 1, longestBorrowMillis: 40 };
    expect(new PoolExhaustedError('timeout', slow, 100).message).toMatch(
      /1\/3 connections in use, 0 waiting, waited 100 ms; .*; 1 connection was still being opened/,
    );
    expect(new PoolExhaustedError('timeout', { ...slow, size: 3, borrowed: 1 }, 100).message).toContain(
      '2 connections were still being opened',
    );
  });

  it('says nothing of opening when every connection is borrowed', () => {
    expect(new PoolExhaustedError('timeout', stats, 100).message).not.toContain('being opened');
  });
});

describe('SavepointOpenError', () => {
  it('names the refused operation and the open savepoint, with a stable code', () => {
    const err = new SavepointOpenError('query', 't3.1');
    expect(err).toMatchObject({ name: 'SavepointOpenError', code: 'SAVEPOINT_OPEN', savepointId: 't3.1' });
    expect(err.message).toBe(
      'cannot query: savepoint t3.1 is still open inside this transaction; commit or roll back it first',
    );
    expect(JSON.parse(JSON.stringify(err))).toMatchObject({ code: 'SAVEPOINT_OPEN', savepointId: 't3.1' });
  });
});
