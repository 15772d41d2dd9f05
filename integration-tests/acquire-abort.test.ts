import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog, pollUntil, rejection, settle } from './support/pool-test-kit.js';

describe('aborting an acquire', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(config: PoolConfig = {}): Pool {
    const pool = createPool({
      ...db.config,
      application_name: appName('abort'),
      logger: captureLog('warn').logger,
      max: 1,
      acquireTimeoutMillis: 10_000,
      ...config,
    });
    pools.push(pool);
    return pool;
  }

  async function waitForWaiting(pool: Pool, n: number): Promise<void> {
    expect(
      await pollUntil(
        () => pool.stats().waiting,
        (w) => w === n,
      ),
    ).toBe(n);
  }

  it('rejects a waiting acquire with signal.reason and takes it out of the queue', async () => {
    const pool = makePool();
    const held = await pool.acquire();
    const controller = new AbortController();
    const reason = new Error('caller gave up');

    const waiting = settle(pool.acquire({ signal: controller.signal }));
    await waitForWaiting(pool, 1);
    const abortedAt = performance.now();
    controller.abort(reason);
    const outcome = await waiting;

    expect(rejection(outcome)).toBe(reason);
    expect(performance.now() - abortedAt).toBeLessThan(100);
    expect(pool.stats()).toMatchObject({ waiting: 0, exhausted: 0, borrowed: 1 });

    // The connection coming back is not handed to the aborted caller.
    await held.release();
    expect(pool.stats()).toMatchObject({ borrowed: 0, idle: 1 });
    await expect(pool.query<{ n: number }>('select 1 as n')).resolves.toMatchObject({ rows: [{ n: 1 }] });
  });

  it('the callback form never runs its callback when aborted while waiting', async () => {
    const pool = makePool();
    const held = await pool.acquire();
    const controller = new AbortController();
    let ran = false;

    const waiting = settle(
      pool.acquire(
        async () => {
          ran = true;
        },
        { signal: controller.signal },
      ),
    );
    await waitForWaiting(pool, 1);
    controller.abort();
    const outcome = await waiting;

    // Without an explicit reason, abort() uses an AbortError DOMException: that object is the rejection.
    expect(rejection(outcome)).toBe(controller.signal.reason);
    expect(rejection(outcome)).toMatchObject({ name: 'AbortError' });
    await held.release();
    expect(ran).toBe(false);
    expect(pool.stats()).toMatchObject({ waiting: 0, borrowed: 0 });
  });

  it('only the aborted waiter leaves; the others keep their places', async () => {
    const pool = makePool();
    const held = await pool.acquire();
    const controller = new AbortController();
    const order: string[] = [];
    const scope = (name: string, signal?: AbortSignal) =>
      pool.acquire(
        async (conn) => {
          order.push(name);
          await conn.query('select 1');
        },
        signal ? { signal } : undefined,
      );

    const first = scope('first');
    const aborted = settle(scope('aborted', controller.signal));
    const last = scope('last');
    await waitForWaiting(pool, 3);
    controller.abort(new Error('stop'));
    expect(rejection(await aborted)).toMatchObject({ message: 'stop' });
    expect(pool.stats().waiting).toBe(2);

    await held.release();
    await Promise.all([first, last]);
    expect(order).toEqual(['first', 'last']);
  });

  it('a signal that is already aborted rejects at once without borrowing, even with a connection free', async () => {
    const pool = makePool();
    await pool.query('select 1'); // one idle connection
    const before = pool.stats();
    const reason = new Error('already aborted');

    const outcome = await settle(pool.acquire({ signal: AbortSignal.abort(reason) }));

    expect(outcome.millis).toBeLessThan(50);
    expect(rejection(outcome)).toBe(reason);
    expect(pool.stats()).toMatchObject({ acquired: before.acquired, borrowed: 0, idle: 1, waiting: 0 });

    let ran = false;
    await expect(
      pool.acquire(
        async () => {
          ran = true;
        },
        { signal: AbortSignal.abort(reason) },
      ),
    ).rejects.toBe(reason);
    expect(ran).toBe(false);
  });

  it('AbortSignal.timeout() ends a wait with its TimeoutError before the pool timeout', async () => {
    const pool = makePool({ acquireTimeoutMillis: 10_000 });
    const held = await pool.acquire();

    const outcome = await settle(pool.acquire({ signal: AbortSignal.timeout(200) }));

    expect(outcome.millis).toBeGreaterThanOrEqual(150);
    expect(outcome.millis).toBeLessThan(1_500);
    expect(rejection(outcome)).toMatchObject({ name: 'TimeoutError' });
    expect(pool.stats()).toMatchObject({ waiting: 0, exhausted: 0 });
    await held.release();
  });

  it('aborting after the connection was handed over changes nothing', async () => {
    const pool = makePool();
    const controller = new AbortController();
    const value = await pool.acquire(
      async (conn) => {
        controller.abort(new Error('too late'));
        return (await conn.query<{ n: number }>('select 5 as n')).rows[0]?.n;
      },
      { signal: controller.signal },
    );
    expect(value).toBe(5);
    expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: 0 });
  });
});
