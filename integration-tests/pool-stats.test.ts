import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool, type PoolConfig } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog, pollUntil } from './support/pool-test-kit.js';

describe('pool.stats()', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(config: PoolConfig = {}) {
    const app = appName('stats');
    const pool = createPool({
      ...db.config,
      application_name: app,
      logger: captureLog('warn').logger,
      acquireTimeoutMillis: 5_000,
      ...config,
    });
    pools.push(pool);
    return { pool, app };
  }

  it('starts at zero with the configured bounds', () => {
    const { pool } = makePool({ max: 7, min: 0 });
    expect(pool.stats()).toEqual({
      max: 7,
      min: 0,
      size: 0,
      idle: 0,
      borrowed: 0,
      waiting: 0,
      acquired: 0,
      created: 0,
      destroyed: 0,
      exhausted: 0,
      commits: 0,
      rollbacks: 0,
      longestBorrowMillis: 0,
    });
  });

  it('counts acquires, connections opened and reused, and the current state', async () => {
    const { pool, app } = makePool({ max: 3 });

    const first = await pool.acquire();
    expect(pool.stats()).toMatchObject({
      size: 1,
      idle: 0,
      borrowed: 1,
      acquired: 1,
      created: 1,
      destroyed: 0,
    });

    await first.release();
    expect(pool.stats()).toMatchObject({ size: 1, idle: 1, borrowed: 0, acquired: 1, created: 1 });

    // Reuse: acquired moves, created does not.
    await pool.acquire(async () => {
      expect(pool.stats()).toMatchObject({ idle: 0, borrowed: 1 });
    });
    await pool.query('select 1');
    expect(pool.stats()).toMatchObject({ acquired: 3, created: 1, borrowed: 0 });

    // Two at once need a second connection.
    const pair = await Promise.all([pool.acquire(), pool.acquire()]);
    expect(pool.stats()).toMatchObject({ size: 2, borrowed: 2, acquired: 5, created: 2 });
    await Promise.all(pair.map((conn) => conn.release()));
    expect(pool.stats()).toMatchObject({ size: 2, idle: 2, borrowed: 0 });
    expect(await countConnections(db.name, app)).toBe(2);
  });

  it('counts connections destroyed, and size follows', async () => {
    const { pool } = makePool({ max: 2 });
    await pool.query('select 1');
    const before = pool.stats();
    expect(before).toMatchObject({ size: 1, created: 1, destroyed: 0 });

    // A scope that ends while its query still runs: the connection is destroyed.
    await pool.acquire(async (conn) => {
      void conn.query('select pg_sleep(10)').catch(() => {
        // Expected: the connection is closed under it.
      });
    });

    const after = await pollUntil(
      () => pool.stats(),
      (s) => s.size === 0,
    );
    expect(after).toMatchObject({ size: 0, idle: 0, borrowed: 0, created: 1, destroyed: 1, acquired: 2 });

    await pool.query('select 1');
    expect(pool.stats()).toMatchObject({ size: 1, created: 2, destroyed: 1, acquired: 3 });
  });

  it('an idle connection whose backend is terminated leaves idle and size without an acquire', async () => {
    const { pool, app } = makePool({ max: 3 });
    await Promise.all([1, 2].map(() => pool.acquire((conn) => conn.query('select pg_sleep(0.05)'))));
    expect(pool.stats()).toMatchObject({ idle: 2, size: 2 });
    const acquired = pool.stats().acquired;
    const { rows } = await db.admin(
      'select pid from pg_stat_activity where datname = current_database() and application_name = $1 limit 1',
      [app],
    );
    await db.admin('select pg_terminate_backend($1)', [(rows[0] as { pid: number }).pid]);
    const after = await pollUntil(
      () => pool.stats(),
      (s) => s.idle === 1,
      3_000,
    );
    expect(after).toMatchObject({ idle: 1, size: 1, destroyed: 1, borrowed: 0, acquired });
    expect(await countConnections(db.name, app)).toBe(1);
    // The survivor still serves.
    expect((await pool.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    expect(pool.stats()).toMatchObject({ created: 2, destroyed: 1 });
  });

  it('counts waiting acquirers while they wait', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const waiters = [pool.acquire(async () => 1), pool.acquire(async () => 2)];
    const waiting = await pollUntil(
      () => pool.stats().waiting,
      (n) => n === 2,
    );
    expect(waiting).toBe(2);
    await held.release();
    await Promise.all(waiters);
    expect(pool.stats()).toMatchObject({ waiting: 0, borrowed: 0, acquired: 3, created: 1 });
  });

  it('after close: nothing open, every created connection destroyed, totals kept', async () => {
    const { pool, app } = makePool({ max: 2 });
    await Promise.all([pool.query('select 1'), pool.query('select 1')]);
    const before = pool.stats();

    await pool.close();

    const after = pool.stats();
    expect(after).toMatchObject({ idle: 0, borrowed: 0, waiting: 0, acquired: before.acquired });
    expect(after.destroyed).toBe(after.created);
    expect(
      await pollUntil(
        () => countConnections(db.name, app),
        (n) => n === 0,
      ),
    ).toBe(0);
  });

  it('returns a snapshot, not a live view', async () => {
    const { pool } = makePool();
    const snapshot = pool.stats();
    await pool.query('select 1');
    expect(snapshot.acquired).toBe(0);
    expect(pool.stats().acquired).toBe(1);
  });
});
