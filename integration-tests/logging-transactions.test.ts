import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPool, type PoolConfig, TransactionTimeoutError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs, Level, type LogCapture, type LogRecord } from './setup/log-capture.js';

describe('transaction log events', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  function poolFor(capture: LogCapture, options: PoolConfig = {}) {
    return createPool({ connectionString: db.url, logger: capture.logger, ...options });
  }

  /** The transaction's own lines: each carries its txId and the scopeId of the connection it runs on. */
  function txLines(capture: LogCapture, txId: string): LogRecord[] {
    return capture.records().filter((r) => r.txId === txId);
  }

  it('logs begin (isolation, readOnly) and commit (durationMillis) at debug, with txId and scopeId', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    let txId = '';
    await pool.transaction(
      async (tx) => {
        txId = tx.id;
        await tx.query('select 1');
        await tx.query('select 2');
      },
      { isolation: 'repeatable read', readOnly: true },
    );

    const [acquire] = capture.events('pool.acquire');
    const scopeId = acquire?.scopeId;
    expect(scopeId).toEqual(expect.any(String));
    expect(capture.events('tx.begin')).toMatchObject([
      { level: Level.debug, txId, scopeId, isolation: 'repeatable read', readOnly: true },
    ]);
    const commit = capture.events('tx.commit');
    expect(commit).toMatchObject([{ level: Level.debug, txId, scopeId }]);
    expect(commit[0]?.durationMillis).toBeGreaterThanOrEqual(0);
    expect(txLines(capture, txId).map((r) => r.event)).toEqual(['tx.begin', 'tx.commit']);
    // Every line from acquire to release belongs to the scope.
    const scoped = capture.records().filter((r) => r.event !== 'pool.connect');
    expect(scoped.map((r) => r.scopeId)).toEqual(scoped.map(() => scopeId));
    expect(scoped.map((r) => r.event)).toEqual(['pool.acquire', 'tx.begin', 'tx.commit', 'pool.release']);
  });

  it('gives sibling savepoints ids of their own, so their lines are told apart', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    const ids: string[] = [];
    await pool.transaction(async (tx) => {
      await tx
        .transaction(async (first) => {
          ids.push(first.id);
          await first.query('select 1');
          throw new Error('undo the first');
        })
        .catch(() => undefined);
      await tx.transaction(async (second) => {
        ids.push(second.id);
        await second.query('select 2');
        await second.transaction(async (inner) => {
          ids.push(inner.id);
          await inner.query('select 3');
        });
      });
      ids.push(tx.id);
    });

    const [first, second, inner, top] = ids;
    expect(new Set(ids).size).toBe(4);
    expect(first).toBe(`${top}.1`);
    expect(second).toBe(`${top}.2`);
    expect(inner).toBe(`${top}.2.3`);
    // The rollback line names the first savepoint only; the second's lines are its own.
    expect(capture.events('tx.rollback').map((r) => r.txId)).toEqual([first]);
  });

  it("logs a rollback at debug with reason 'error' and the error when the callback throws", async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    let txId = '';
    const boom = new Error('boom in the callback');
    await expect(
      pool.transaction(async (tx) => {
        txId = tx.id;
        await tx.query('select 1');
        throw boom;
      }),
    ).rejects.toBe(boom);
    const rollback = capture.events('tx.rollback');
    expect(rollback).toMatchObject([
      {
        level: Level.debug,
        txId,
        scopeId: expect.any(String),
        reason: 'error',
        err: { message: 'boom in the callback' },
      },
    ]);
    expect(capture.events('tx.commit')).toHaveLength(0);
  });

  it("logs reason 'disposed without commit' when an await-using transaction ends uncommitted", async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    let txId = '';
    {
      await using tx = await pool.transaction();
      txId = tx.id;
      await tx.query('select 1');
    }
    expect(capture.events('tx.rollback')).toMatchObject([
      { level: Level.debug, txId, scopeId: expect.any(String), reason: 'disposed without commit' },
    ]);
  });

  it("logs reason 'rollback requested' for an explicit rollback", async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    await using tx = await pool.transaction();
    await tx.query('select 1');
    await tx.rollback();
    expect(capture.events('tx.rollback')).toMatchObject([
      { level: Level.debug, txId: tx.id, scopeId: expect.any(String), reason: 'rollback requested' },
    ]);
  });

  it("logs reason 'timeout' when the deadline passes", async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    let txId = '';
    await expect(
      pool.transaction(
        async (tx) => {
          txId = tx.id;
          await tx.query('select pg_sleep(5)');
        },
        { timeoutMillis: 150 },
      ),
    ).rejects.toBeInstanceOf(TransactionTimeoutError);
    expect(capture.events('tx.rollback')).toMatchObject([
      {
        level: Level.debug,
        txId,
        scopeId: expect.any(String),
        reason: 'timeout',
        err: { code: 'TX_TIMEOUT' },
      },
    ]);
  });

  it("logs reason 'abort' when the signal aborts", async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    let txId = '';
    const running = pool.transaction(
      async (tx) => {
        txId = tx.id;
        await tx.query('select pg_sleep(5)');
      },
      { signal: controller.signal },
    );
    // The statement (and BEGIN with it) is sent in the step that sets txId: abort only once it was.
    await vi.waitFor(() => expect(txId).not.toBe(''), { timeout: 10_000 });
    await sleep(100);
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    expect(capture.events('tx.rollback')).toMatchObject([
      { level: Level.debug, txId, scopeId: expect.any(String), reason: 'abort' },
    ]);
  });

  it('logs a savepoint rolled back with its own txId under the outer one', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    let outerId = '';
    let innerId = '';
    await pool.transaction(async (tx) => {
      outerId = tx.id;
      await tx.query('select 1');
      await expect(
        tx.transaction(async (sp) => {
          innerId = sp.id;
          throw new Error('undo the savepoint');
        }),
      ).rejects.toThrow('undo the savepoint');
    });
    expect(innerId.startsWith(outerId)).toBe(true);
    expect(capture.events('tx.rollback')).toMatchObject([{ txId: innerId, reason: 'error' }]);
    expect(capture.events('tx.commit')).toMatchObject([{ txId: outerId }]);
  });

  it('logs a retry at info with attempt, sqlstate and delayMillis, then the attempts that follow', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    const ids: string[] = [];
    const result = await pool.transaction(
      async (tx) => {
        ids.push(tx.id);
        await tx.query('select 1');
        if (ids.length === 1) {
          throw Object.assign(new Error('could not serialize access'), { code: '40001' });
        }
        return 'done';
      },
      { retry: { maxAttempts: 3, baseDelayMillis: 5 } },
    );
    expect(result).toBe('done');
    expect(ids).toHaveLength(2);
    const retry = capture.events('tx.retry');
    expect(retry).toMatchObject([
      {
        level: Level.info,
        txId: ids[0],
        scopeId: expect.any(String),
        attempt: 1,
        sqlstate: '40001',
        delayMillis: expect.any(Number),
      },
    ]);
    expect(retry[0]?.delayMillis).toBeGreaterThanOrEqual(0);
    expect(retry[0]?.delayMillis).toBeLessThanOrEqual(5);
    expect(capture.events('tx.rollback')).toMatchObject([{ txId: ids[0], reason: 'error' }]);
    expect(capture.events('tx.commit')).toMatchObject([{ txId: ids[1] }]);
  });

  it('retries a real serialization failure and logs it', async () => {
    await db.admin('create table counters (id int primary key, n int not null)');
    await db.admin('insert into counters values (1, 0)');
    const capture = captureLogs();
    await using pool = poolFor(capture, { max: 2 });
    let release!: () => void;
    const bothRead = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reads = 0;
    const bump = () =>
      pool.transaction(
        async (tx) => {
          await tx.query('select n from counters where id = 1');
          if (++reads === 2) release();
          await bothRead;
          await tx.query('update counters set n = n + 1 where id = 1');
        },
        { isolation: 'serializable', retry: { maxAttempts: 5, baseDelayMillis: 5 } },
      );
    await Promise.all([bump(), bump()]);
    const rows = await db.admin('select n from counters where id = 1');
    expect(rows.rows[0]).toEqual({ n: 2 });
    const retries = capture.events('tx.retry');
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]).toMatchObject({ level: Level.info, attempt: 1, sqlstate: '40001' });
  });

  it("logs reason 'connection lost' when the connection died before COMMIT could be sent", async () => {
    const capture = captureLogs();
    const app = 'logging-tx-lost-before-commit';
    await using pool = poolFor(capture, { application_name: app });
    let txId = '';
    await expect(
      pool.transaction(async (tx) => {
        txId = tx.id;
        await tx.query('select 1');
        await db.admin(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = $2',
          [db.name, app],
        );
        await capture.waitFor('conn.error');
      }),
    ).rejects.toBeInstanceOf(Error);
    expect(capture.events('tx.commit')).toHaveLength(0);
    expect(capture.events('tx.rollback')).toMatchObject([
      { level: Level.debug, txId, scopeId: expect.any(String), reason: 'connection lost' },
    ]);
    expect(capture.events('pool.destroy')).toMatchObject([{ level: Level.warn, reason: 'broken' }]);
    expect(pool.stats()).toMatchObject({ commits: 0, rollbacks: 1 });
  });

  it('logs the commit of a transaction that never sent a statement, as stats() counts it', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    let txId = '';
    await pool.transaction((tx) => {
      txId = tx.id;
    });
    expect(capture.events('tx.begin')).toHaveLength(0);
    expect(capture.events('tx.commit')).toMatchObject([
      { level: Level.debug, txId, scopeId: expect.any(String) },
    ]);
    expect(pool.stats()).toMatchObject({ commits: 1 });
  });

  it('logs a failed ROLLBACK at error and destroys the connection', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    const failure = Object.assign(new Error('rollback lost'), { code: '08006' });
    let txId = '';
    let scopeId = '';
    const boom = new Error('callback failed');
    await pool.acquire(async (conn) => {
      scopeId = conn.scopeId;
      // Make this connection's ROLLBACK fail, the one way a test can make it fail on cue.
      const client: pg.Client = conn.client;
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) =>
        args[0] === 'ROLLBACK' ? Promise.reject(failure) : query(...args);
      await expect(
        conn.transaction(async (tx) => {
          txId = tx.id;
          await tx.query('select 1');
          throw boom;
        }),
      ).rejects.toBe(boom);
    });
    expect(boom).toHaveProperty('suppressed', failure);
    expect(capture.events('tx.rollbackFailed')).toMatchObject([
      { level: Level.error, txId, scopeId, err: { message: 'rollback lost', code: '08006' } },
    ]);
    expect(capture.events('pool.destroy')).toMatchObject([
      { level: Level.warn, reason: 'reset failed', scopeId },
    ]);
  });

  it('logs a destroy with the scope and at warn when the connection breaks inside a transaction', async () => {
    const capture = captureLogs();
    const app = 'logging-tx-broken';
    await using pool = poolFor(capture, { application_name: app });
    let scopeId = '';
    await expect(
      pool.transaction(async (tx) => {
        await tx.query('select 1');
        scopeId = capture.events('pool.acquire')[0]?.scopeId ?? '';
        await db.admin(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = $2',
          [db.name, app],
        );
        // The server's message arrives on its own; the next statement then fails on the dead connection.
        await capture.waitFor('conn.error');
        await tx.query('select 2');
      }),
    ).rejects.toBeInstanceOf(Error);
    // pg reports the termination twice (the server's message, then the socket's end): one warning.
    const connErrors = capture.events('conn.error');
    expect(connErrors.filter((r) => r.level === Level.warn)).toMatchObject([{ err: { code: '57P01' } }]);
    expect(connErrors.filter((r) => r.level !== Level.warn).every((r) => r.level === Level.debug)).toBe(true);
    expect(capture.events('tx.rollback')).toMatchObject([{ reason: 'error', scopeId }]);
    expect(capture.events('pool.destroy')).toMatchObject([{ level: Level.warn, reason: 'broken', scopeId }]);
  });
});
