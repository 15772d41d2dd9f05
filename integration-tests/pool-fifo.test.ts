import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog, pollUntil, rejection, settle } from './support/pool-test-kit.js';

describe('waiters are served in FIFO order', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(config: PoolConfig): Pool {
    const pool = createPool({
      ...db.config,
      application_name: appName('fifo'),
      logger: captureLog('warn').logger,
      ...config,
    });
    pools.push(pool);
    return pool;
  }

  async function waitForWaiting(pool: Pool, n: number): Promise<void> {
    const waiting = await pollUntil(
      () => pool.stats().waiting,
      (w) => w === n,
    );
    expect(waiting).toBe(n);
  }

  it('serves five waiters on a pool of one in the order they arrived', async () => {
    const pool = makePool({ max: 1, acquireTimeoutMillis: 10_000 });
    const held = await pool.acquire();
    const heldPid = (await held.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;

    const order: number[] = [];
    const pids: number[] = [];
    const scopes = [0, 1, 2, 3, 4].map((i) =>
      pool.acquire(async (conn) => {
        order.push(i);
        const { rows } = await conn.query<{ pid: number }>('select pg_backend_pid() as pid');
        pids.push(rows[0]?.pid ?? -1);
        return i;
      }),
    );
    await waitForWaiting(pool, 5);
    expect(order).toEqual([]);

    await held.release();

    expect(await Promise.all(scopes)).toEqual([0, 1, 2, 3, 4]);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    // One connection went round all of them.
    expect(pids).toEqual([heldPid, heldPid, heldPid, heldPid, heldPid]);
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0, created: 1, acquired: 6 });
  });

  it('a newcomer does not jump the queue when a connection comes back', async () => {
    const pool = makePool({ max: 1, acquireTimeoutMillis: 10_000 });
    const held = await pool.acquire();
    const order: string[] = [];
    const scope = (name: string) =>
      pool.acquire(async (conn) => {
        order.push(name);
        await conn.query('select 1');
      });
    const queued = [scope('first'), scope('second'), scope('third')];
    await waitForWaiting(pool, 3);

    const released = held.release();
    // Arrives while the released connection is on its way to the head of the queue.
    const newcomer = scope('newcomer');
    await released;
    await Promise.all([...queued, newcomer]);

    expect(order).toEqual(['first', 'second', 'third', 'newcomer']);
  });

  it('keeps the order of the others when a waiter in the middle times out', async () => {
    const pool = makePool({ max: 1, acquireTimeoutMillis: 10_000 });
    const held = await pool.acquire();
    const order: string[] = [];
    const scope = (name: string, timeoutMillis?: number) =>
      pool.acquire(
        async (conn) => {
          order.push(name);
          await conn.query('select 1');
        },
        timeoutMillis === undefined ? undefined : { timeoutMillis },
      );
    const a = scope('a');
    const b = settle(scope('b', 100));
    const c = scope('c');
    const d = scope('d');
    await waitForWaiting(pool, 4);

    const timedOut = await b;
    expect(rejection(timedOut)).toMatchObject({ code: 'POOL_EXHAUSTED', reason: 'timeout' });
    expect(pool.stats().waiting).toBe(3);

    await held.release();
    await Promise.all([a, c, d]);
    expect(order).toEqual(['a', 'c', 'd']);
  });

  it('serves waiters in order on a larger pool too', async () => {
    const pool = makePool({ max: 2, acquireTimeoutMillis: 10_000 });
    const held = await Promise.all([pool.acquire(), pool.acquire()]);
    const order: number[] = [];
    const scopes = Array.from({ length: 8 }, (_, i) =>
      pool.acquire(async (conn) => {
        order.push(i);
        await conn.query('select 1');
      }),
    );
    await waitForWaiting(pool, 8);

    await held[0]?.release();
    await held[1]?.release();
    await Promise.all(scopes);

    // Two connections serve the queue concurrently, so neighbours may finish in either order, but nobody
    // is served more than one place ahead of their turn.
    expect([...order].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    order.forEach((waiter, position) => {
      expect(Math.abs(waiter - position)).toBeLessThanOrEqual(1);
    });
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0, created: 2 });
  });
});
