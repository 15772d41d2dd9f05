import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool, type PoolConfig, PoolExhaustedError } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog, settle } from './support/pool-test-kit.js';

/**
 * A pool whose `min` connections are still being opened when the first callers arrive: the most common
 * production configuration is min = max (a fixed-size pool), and its first callers must be served by the
 * connections min-keeping opens, not wait beside them until their deadline.
 */
describe('fixed-size and min-keeping pools serve their first callers', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table t (id int primary key, n int not null)');
    await db.admin('insert into t select g, 0 from generate_series(1, 10) g');
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(config: PoolConfig): { pool: Pool; app: string } {
    const app = appName('fixed');
    const pool = createPool({
      ...db.config,
      application_name: app,
      logger: captureLog('warn').logger,
      acquireTimeoutMillis: 1_500,
      ...config,
    });
    pools.push(pool);
    return { pool, app };
  }

  const sizes: [min: number, max: number][] = [
    [1, 1],
    [2, 2],
    [5, 5],
    [0, 1],
    [1, 3],
  ];

  for (const [min, max] of sizes) {
    it(`min ${min}, max ${max}: the first query right after createPool succeeds`, async () => {
      const { pool } = makePool({ min, max });
      const { rows } = await pool.query<{ one: number }>('select 1 as one');
      expect(rows).toEqual([{ one: 1 }]);
      expect(pool.stats()).toMatchObject({ exhausted: 0, acquired: 1 });
    });

    it(`min ${min}, max ${max}: 10 concurrent transactions right after createPool all commit`, async () => {
      const { pool, app } = makePool({ min, max });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          settle(
            pool.transaction(async (tx) => {
              await tx.query('update t set n = n + 1 where id = $1', [i + 1]);
              return i;
            }),
          ),
        ),
      );
      expect(results.filter((r) => !r.ok)).toEqual([]);
      expect(pool.stats()).toMatchObject({ exhausted: 0, commits: 10, acquired: 10 });
      expect(await countConnections(db.name, app)).toBeLessThanOrEqual(max);
    });
  }

  it('a fixed pool of 2 with acquireTimeoutMillis 0: two acquires succeed at once, the third is refused 2/2', async () => {
    const { pool } = makePool({ min: 2, max: 2, acquireTimeoutMillis: 0 });
    await using first = await pool.acquire();
    await using second = await pool.acquire();
    await first.query('select 1');
    await second.query('select 1');
    const third = await settle(pool.acquire());
    expect(third.ok).toBe(false);
    const error = third.ok ? undefined : third.error;
    expect(error).toBeInstanceOf(PoolExhaustedError);
    expect((error as PoolExhaustedError).reason).toBe('no-wait');
    expect((error as PoolExhaustedError).message).toMatch(/2\/2 connections in use/);
    expect(pool.stats()).toMatchObject({ exhausted: 1, borrowed: 2 });
  });

  it('a fixed pool of 2 with acquireTimeoutMillis 0: two concurrent acquires right after createPool both succeed', async () => {
    const { pool } = makePool({ min: 2, max: 2, acquireTimeoutMillis: 0 });
    const [a, b] = await Promise.all([settle(pool.acquire()), settle(pool.acquire())]);
    expect(a.ok && b.ok).toBe(true);
    if (a.ok) await a.value[Symbol.asyncDispose]();
    if (b.ok) await b.value[Symbol.asyncDispose]();
    expect(pool.stats()).toMatchObject({ exhausted: 0, borrowed: 0 });
  });
});
