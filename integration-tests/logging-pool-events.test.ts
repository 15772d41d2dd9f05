import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectError, createPool, type PoolConfig, PoolExhaustedError } from '../src/index.js';
import { closedPort } from './setup/closed-port.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs, Level, type LogCapture } from './setup/log-capture.js';

describe('pool log events', () => {
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

  it('binds every line to the pool: its application_name, or pg-scope', async () => {
    const named = captureLogs();
    const inUrl = captureLogs();
    const unnamed = captureLogs();
    {
      await using pool = poolFor(named, { application_name: 'orders-api' });
      await pool.query('select 1');
    }
    {
      const url = new URL(db.url);
      url.searchParams.set('application_name', 'billing-api');
      await using pool = createPool({ connectionString: url.href, logger: inUrl.logger });
      await pool.query('select 1');
    }
    {
      await using pool = poolFor(unnamed);
      await pool.query('select 1');
    }
    expect(named.records().length).toBeGreaterThan(0);
    expect(named.records().every((r) => r.pool === 'orders-api')).toBe(true);
    expect(inUrl.records().length).toBeGreaterThan(0);
    expect(inUrl.records().every((r) => r.pool === 'billing-api')).toBe(true);
    expect(unnamed.records().length).toBeGreaterThan(0);
    expect(unnamed.records().every((r) => r.pool === 'pg-scope')).toBe(true);
  });

  it('logs connect, acquire and release at debug, each acquire-scope line with its scopeId', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    let scopeId = '';
    await pool.acquire(async (conn) => {
      scopeId = conn.scopeId;
      await conn.query('select 1');
    });

    const [connect] = capture.events('pool.connect');
    expect(connect).toMatchObject({ level: Level.debug, connectionId: expect.any(Number) });
    expect(connect?.connectMillis).toBeGreaterThanOrEqual(0);
    const acquire = capture.events('pool.acquire');
    expect(acquire).toHaveLength(1);
    expect(acquire[0]).toMatchObject({ level: Level.debug, scopeId });
    expect(acquire[0]?.waitMillis).toBeGreaterThanOrEqual(0);
    const release = capture.events('pool.release');
    expect(release).toHaveLength(1);
    expect(release[0]).toMatchObject({ level: Level.debug, scopeId });
    expect(release[0]?.heldMillis).toBeGreaterThanOrEqual(0);
    expect(scopeId).toMatch(/^\S+$/);
  });

  it("logs exhaustion at warn with the reason and the pool's counters: no-wait, timeout, queue-full", async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture, { max: 1, acquireTimeoutMillis: 0 });
    await using held = await pool.acquire();
    await held.query('select 1');

    await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_EXHAUSTED', reason: 'no-wait' });
    await expect(pool.acquire({ timeoutMillis: 100 })).rejects.toMatchObject({ reason: 'timeout' });

    // The second error within a second of the first is written when that second is over (aggregation).
    await capture.waitFor('pool.exhausted', (r) => r.reason === 'timeout', 3_000);
    const lines = capture.events('pool.exhausted');
    expect(lines).toHaveLength(2);
    expect(lines.map((line) => line.count)).toEqual([1, 1]);
    expect(lines[0]).toMatchObject({
      level: Level.warn,
      reason: 'no-wait',
      stats: { max: 1, borrowed: 1, exhausted: 1 },
    });
    expect(lines[0]?.waitMillis).toBeGreaterThanOrEqual(0);
    expect(lines[1]).toMatchObject({
      level: Level.warn,
      reason: 'timeout',
      stats: { max: 1, borrowed: 1, exhausted: 2 },
    });
    expect(lines[1]?.waitMillis).toBeGreaterThanOrEqual(90);
    expect(lines[1]?.msg).toContain('pool exhausted: 1/1 connections in use');

    const queue = captureLogs();
    await using full = poolFor(queue, { max: 1, maxWaiting: 1 });
    const other = await full.acquire();
    await other.query('select 1');
    const queued = full.acquire();
    await expect(full.acquire()).rejects.toBeInstanceOf(PoolExhaustedError);
    expect(queue.events('pool.exhausted')).toMatchObject([
      { level: Level.warn, reason: 'queue-full', stats: { borrowed: 1, waiting: 1 } },
    ]);
    await other.release();
    await (await queued).release();
  });

  it('aggregates a burst of exhaustion: 200 rejected acquires in a second are at most 2 lines, with counts', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture, { max: 1, acquireTimeoutMillis: 0 });
    await using held = await pool.acquire();
    await held.query('select 1');
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_EXHAUSTED', reason: 'no-wait' });
    }
    const burstMillis = performance.now() - started;
    expect(burstMillis).toBeLessThan(1_000);
    expect(pool.stats().exhausted).toBe(200);
    // The first line at once; the rest as one line when the second is over.
    expect(capture.events('pool.exhausted')).toHaveLength(1);
    await capture.waitFor('pool.exhausted', (r) => r.count !== 1, 3_000);
    const lines = capture.events('pool.exhausted');
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines.reduce((sum, line) => sum + (line.count as number), 0)).toBe(200);
    expect(lines[0]).toMatchObject({ level: Level.warn, reason: 'no-wait', count: 1 });
    expect(lines[1]).toMatchObject({ level: Level.warn, reason: 'no-wait', count: 199 });
    expect(lines[1]?.msg).toContain('199 times since the last line');
  });

  it('warns about a slow acquire (default: half the acquire timeout) with the waiting scope and the wait', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture, { max: 1, acquireTimeoutMillis: 400 });
    // Opening the connection is not what is measured here.
    await pool.query('select 1');
    capture.clear();
    const first = await pool.acquire();
    await first.query('select 1');
    const waiting = pool.acquire();
    await sleep(300);
    await first.release();
    await using second = await waiting;

    const slow = capture.events('pool.slowAcquire');
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatchObject({ level: Level.warn, scopeId: second.scopeId });
    expect(slow[0]?.waitMillis).toBeGreaterThanOrEqual(200);
    // The slow acquire is still an acquire: the debug line is there too.
    expect(capture.events('pool.acquire').map((r) => r.scopeId)).toEqual([first.scopeId, second.scopeId]);

    // A short wait stays under the threshold.
    capture.clear();
    const third = pool.acquire();
    await sleep(20);
    await second.release();
    await (await third).release();
    expect(capture.events('pool.slowAcquire')).toHaveLength(0);
  });

  it('honours slowAcquireMillis', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture, { max: 1, slowAcquireMillis: 30 });
    await pool.query('select 1');
    capture.clear();
    const first = await pool.acquire();
    const waiting = pool.acquire();
    await sleep(80);
    await first.release();
    await using second = await waiting;
    expect(capture.events('pool.slowAcquire')).toMatchObject([{ scopeId: second.scopeId }]);
  });

  it('logs conn.error when an idle connection is terminated, then destroys it as broken at warn', async () => {
    const capture = captureLogs();
    const app = 'logging-terminate-idle';
    await using pool = poolFor(capture, { application_name: app });
    await pool.query('select 1');
    const [connect] = capture.events('pool.connect');
    const firstId = connect?.connectionId;
    expect(firstId).toEqual(expect.any(Number));

    const terminated = await db.admin(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = $2',
      [db.name, app],
    );
    expect(terminated.rowCount).toBe(1);
    const connError = await capture.waitFor('conn.error');
    expect(connError).toMatchObject({ level: Level.warn, connectionId: firstId, err: { code: '57P01' } });

    await pool.query('select 1');
    // pg reports the termination twice (the server's message, then the socket's end): one warning.
    expect(capture.events('conn.error').filter((r) => r.level >= Level.warn)).toHaveLength(1);
    const destroy = capture.events('pool.destroy');
    expect(destroy).toMatchObject([{ level: Level.warn, reason: 'broken', connectionId: firstId }]);
    const connects = capture.events('pool.connect');
    expect(connects).toHaveLength(2);
    expect(connects[1]?.connectionId).not.toBe(firstId);
  });

  it('logs the rollback of a transaction left open by hand at warn, and the destroy reasons at close', async () => {
    const capture = captureLogs();
    const pool = poolFor(capture);
    let scopeId = '';
    await pool.acquire(async (conn) => {
      scopeId = conn.scopeId;
      await conn.query('begin');
      await conn.query('select 1');
    });
    expect(capture.events('pool.reset')).toMatchObject([
      { level: Level.warn, scopeId, transactionStatus: 'T' },
    ]);
    // Reset, then reused: nothing destroyed.
    expect(capture.events('pool.destroy')).toHaveLength(0);

    await pool.close();
    expect(capture.events('pool.close')).toMatchObject([{ level: Level.debug }]);
    expect(capture.events('pool.destroy')).toMatchObject([{ level: Level.debug, reason: 'pool closed' }]);
  });

  it('logs each failed connection attempt at warn with its attempt number and error code', async () => {
    const capture = captureLogs();
    await using pool = createPool({
      host: '127.0.0.1',
      port: await closedPort(),
      user: 'nobody',
      database: 'nothing',
      acquireTimeoutMillis: 700,
      logger: capture.logger,
    });
    await expect(pool.query('select 1')).rejects.toBeInstanceOf(ConnectError);
    const failures = capture.events('pool.connectError');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    failures.forEach((line, i) => {
      expect(line).toMatchObject({
        level: Level.warn,
        attempt: i + 1,
        code: 'ECONNREFUSED',
        err: { code: 'ECONNREFUSED' },
      });
    });
    // A stack on the first failure of the run only; the next ones repeat its message and code.
    expect(failures[0]?.err).toMatchObject({ stack: expect.any(String) });
    for (const line of failures.slice(1)) {
      expect((line.err as { stack?: unknown }).stack).toBeUndefined();
      expect((line.err as { message?: unknown }).message).toContain('ECONNREFUSED');
    }
  });

  it('logs a failure no retry can fix once, marked permanent', async () => {
    const capture = captureLogs();
    const url = new URL(db.url);
    url.pathname = '/no_such_database_here';
    await using pool = createPool({ connectionString: url.href, logger: capture.logger });
    await expect(pool.query('select 1')).rejects.toBeInstanceOf(ConnectError);
    expect(capture.events('pool.connectError')).toMatchObject([
      { level: Level.warn, attempt: 1, code: '3D000', permanent: true, err: { code: '3D000' } },
    ]);
  });

  it("warns about a nested acquire with the inner acquirer's stack and the outer scope's id", async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture, { max: 2 });
    let outerId = '';
    let innerId = '';
    await pool.acquire(async (outer) => {
      outerId = outer.scopeId;
      await pool.acquire(async (inner) => {
        innerId = inner.scopeId;
        await inner.query('select 1');
      });
    });
    const nested = capture.events('pool.nestedAcquire');
    expect(nested).toHaveLength(1);
    expect(nested[0]).toMatchObject({ level: Level.warn, scopeId: outerId });
    expect(nested[0]?.stack).toContain('logging-pool-events.test.ts');
    expect(innerId).not.toBe(outerId);
  });
});
