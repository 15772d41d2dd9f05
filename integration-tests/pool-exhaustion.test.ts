import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connection, createPool, type Pool, type PoolConfig, PoolExhaustedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog, Level, pollUntil, rejection, settle } from './support/pool-test-kit.js';

describe('pool exhaustion', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(config: PoolConfig) {
    const log = captureLog('warn');
    const pool = createPool({
      ...db.config,
      application_name: appName('exhaustion'),
      logger: log.logger,
      ...config,
    });
    pools.push(pool);
    return { pool, log };
  }

  /** Borrows `n` connections and keeps them until released. */
  async function borrow(pool: Pool, n: number): Promise<Connection[]> {
    return Promise.all(Array.from({ length: n }, () => pool.acquire()));
  }

  it("fails at once with reason 'no-wait' when acquireTimeoutMillis is 0 and all connections are borrowed", async () => {
    const { pool, log } = makePool({ max: 2, acquireTimeoutMillis: 0 });
    const held = await borrow(pool, 2);

    const outcome = await settle(pool.acquire());

    expect(outcome.millis).toBeLessThan(50);
    const err = rejection(outcome);
    expect(err).toBeInstanceOf(PoolExhaustedError);
    const exhausted = err as PoolExhaustedError;
    expect(exhausted.code).toBe('POOL_EXHAUSTED');
    expect(exhausted.reason).toBe('no-wait');
    expect(exhausted.stats).toMatchObject({ max: 2, borrowed: 2, waiting: 0 });
    expect(exhausted.waitedMillis).toBeGreaterThanOrEqual(0);
    expect(exhausted.waitedMillis).toBeLessThan(50);
    expect(exhausted.message).toContain('2/2 connections in use');
    expect(exhausted.cause).toBeUndefined();
    expect(pool.stats().exhausted).toBe(1);
    expect(log.withEvent('pool.exhausted').filter((line) => line.level === Level.warn)).toHaveLength(1);

    // The callback form and pool.query() fail the same way, and no connection is lent.
    await expect(pool.acquire(async () => 'never')).rejects.toMatchObject({ reason: 'no-wait' });
    await expect(pool.query('select 1')).rejects.toMatchObject({ reason: 'no-wait' });
    expect(pool.stats()).toMatchObject({ borrowed: 2, exhausted: 3 });

    await held[0]?.release();
    await expect(pool.acquire(async (conn) => (await conn.query('select 7 as n')).rows[0]?.n)).resolves.toBe(
      7,
    );
    await held[1]?.release();
    expect(pool.stats().borrowed).toBe(0);
  });

  it("fails at once with 'no-wait' for an acquire whose own timeoutMillis is 0", async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 10_000 });
    const [held] = await borrow(pool, 1);

    const outcome = await settle(pool.acquire({ timeoutMillis: 0 }));

    expect(outcome.millis).toBeLessThan(50);
    expect(rejection(outcome)).toMatchObject({ code: 'POOL_EXHAUSTED', reason: 'no-wait' });
    expect(pool.stats()).toMatchObject({ waiting: 0, exhausted: 1 });
    await held?.release();
  });

  it('with acquireTimeoutMillis 0 still opens a new connection while below max', async () => {
    const { pool } = makePool({ max: 2, acquireTimeoutMillis: 0 });
    const [first] = await borrow(pool, 1);
    // One borrowed, room for one more: the fail-fast pool opens it rather than failing.
    await expect(pool.acquire(async (conn) => (await conn.query('select 1 as n')).rows[0]?.n)).resolves.toBe(
      1,
    );
    expect(pool.stats()).toMatchObject({ exhausted: 0, created: 2 });
    await first?.release();
  });

  it("fails with reason 'timeout' after acquireTimeoutMillis", async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 300 });
    const [held] = await borrow(pool, 1);

    const outcome = await settle(pool.acquire());

    expect(outcome.millis).toBeGreaterThanOrEqual(250);
    expect(outcome.millis).toBeLessThan(1_500);
    const err = rejection(outcome) as PoolExhaustedError;
    expect(err).toBeInstanceOf(PoolExhaustedError);
    expect(err.code).toBe('POOL_EXHAUSTED');
    expect(err.reason).toBe('timeout');
    expect(err.waitedMillis).toBeGreaterThanOrEqual(250);
    expect(err.waitedMillis).toBeLessThan(1_500);
    expect(err.stats).toMatchObject({ max: 1, borrowed: 1 });
    expect(err.message).toContain('1/1 connections in use');
    expect(err.message).toMatch(/waited \d+ ms/);
    // The server is healthy: nothing failed while the caller waited.
    expect(err.cause).toBeUndefined();
    expect(pool.stats()).toMatchObject({ waiting: 0, exhausted: 1, borrowed: 1 });

    await held?.release();
    expect(pool.stats().borrowed).toBe(0);
  });

  it("honours an acquire's own timeoutMillis over the pool's", async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 10_000 });
    const [held] = await borrow(pool, 1);

    const outcome = await settle(pool.acquire(async () => 'never', { timeoutMillis: 200 }));

    expect(outcome.millis).toBeGreaterThanOrEqual(150);
    expect(outcome.millis).toBeLessThan(1_500);
    expect(rejection(outcome)).toMatchObject({ code: 'POOL_EXHAUSTED', reason: 'timeout' });

    // A longer override on a short pool timeout waits longer than the pool's own.
    const { pool: short } = makePool({ max: 1, acquireTimeoutMillis: 100 });
    const [shortHeld] = await borrow(short, 1);
    const waiting = settle(short.acquire({ timeoutMillis: 5_000 }));
    setTimeout(() => void shortHeld?.release(), 400);
    const served = await waiting;
    expect(served.ok).toBe(true);
    expect(served.millis).toBeGreaterThanOrEqual(350);
    if (served.ok) await served.value.release();

    await held?.release();
    expect(pool.stats().borrowed).toBe(0);
    expect(short.stats().borrowed).toBe(0);
  });

  it('a timeout beyond the range of a JavaScript timer still waits instead of failing at once', async () => {
    // 2^31 ms (about 25 days) overflows setTimeout, which then fires after 1 ms.
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 2 ** 31 });
    const [held] = await borrow(pool, 1);

    const waiting = settle(pool.acquire({ signal: AbortSignal.timeout(300) }));
    const outcome = await waiting;

    expect(outcome.millis).toBeGreaterThanOrEqual(250);
    expect(rejection(outcome)).toMatchObject({ name: 'TimeoutError' });
    expect(pool.stats()).toMatchObject({ exhausted: 0, waiting: 0 });
    await held?.release();
  });

  it("fails at once with reason 'queue-full' when maxWaiting acquirers already wait", async () => {
    const { pool } = makePool({ max: 1, maxWaiting: 2, acquireTimeoutMillis: 5_000 });
    const [held] = await borrow(pool, 1);
    const waiters = [pool.acquire(), pool.acquire()];
    await pollUntil(
      () => pool.stats().waiting,
      (n) => n === 2,
    );
    expect(pool.stats().waiting).toBe(2);

    const outcome = await settle(pool.acquire());

    expect(outcome.millis).toBeLessThan(50);
    const err = rejection(outcome) as PoolExhaustedError;
    expect(err).toBeInstanceOf(PoolExhaustedError);
    expect(err.code).toBe('POOL_EXHAUSTED');
    expect(err.reason).toBe('queue-full');
    expect(err.stats).toMatchObject({ max: 1, borrowed: 1, waiting: 2 });
    expect(err.waitedMillis).toBeLessThan(50);
    expect(err.message).toContain('1/1 connections in use');
    expect(err.message).toContain('2 waiting');
    expect(pool.stats()).toMatchObject({ exhausted: 1, waiting: 2 });

    // The two that were queued are served in turn once the connection comes back.
    await held?.release();
    const first = await waiters[0];
    if (!first) throw new Error('no first waiter');
    expect(pool.stats().waiting).toBe(1);
    await first.release();
    const second = await waiters[1];
    if (!second) throw new Error('no second waiter');
    await second.release();
    expect(pool.stats()).toMatchObject({ waiting: 0, borrowed: 0, exhausted: 1 });
  });

  it('with maxWaiting 0 opens connections while there is room, but never queues for a borrowed one', async () => {
    const { pool } = makePool({ max: 2, maxWaiting: 0, acquireTimeoutMillis: 5_000 });
    // A cold pool: waiting for a connection the pool has room to open is not queueing.
    const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
    const outcome = await settle(pool.acquire());
    expect(outcome.millis).toBeLessThan(50);
    expect(rejection(outcome)).toMatchObject({ code: 'POOL_EXHAUSTED', reason: 'queue-full' });
    await a?.release();
    await b?.release();
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0 });
  });

  it('with maxWaiting 0 lends an idle connection but never queues', async () => {
    const { pool } = makePool({ max: 1, min: 1, maxWaiting: 0, acquireTimeoutMillis: 5_000 });
    await pollUntil(
      () => pool.stats().idle,
      (n) => n === 1,
    );
    const held = await pool.acquire();
    const outcome = await settle(pool.acquire());
    expect(outcome.millis).toBeLessThan(50);
    expect(rejection(outcome)).toMatchObject({ code: 'POOL_EXHAUSTED', reason: 'queue-full' });
    await held.release();
    await expect(pool.query<{ n: number }>('select 3 as n')).resolves.toMatchObject({ rows: [{ n: 3 }] });
  });

  it('counts every PoolExhaustedError in stats().exhausted', async () => {
    const { pool } = makePool({ max: 1, maxWaiting: 1, acquireTimeoutMillis: 150 });
    const [held] = await borrow(pool, 1);
    const reasons = await Promise.all([
      settle(pool.acquire()), // waits, then 'timeout'
      settle(pool.acquire()), // 'queue-full'
      settle(pool.acquire({ timeoutMillis: 0 })), // 'no-wait'
    ]);
    expect(reasons.map((r) => (rejection(r) as PoolExhaustedError).reason).sort()).toEqual([
      'no-wait',
      'queue-full',
      'timeout',
    ]);
    expect(pool.stats().exhausted).toBe(3);
    await held?.release();
    await pool.query('select 1');
    expect(pool.stats()).toMatchObject({ exhausted: 3, borrowed: 0, waiting: 0 });
  });
});
