import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectError, createPool, type Pool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';
import { captureLogs } from './setup/log-capture.js';
import { appName, watchProcessErrors } from './support/pool-test-kit.js';

/** Values JavaScript lets code throw that break a naive `String(err)` or `err.code`. */
function oddValues(): Array<[string, unknown]> {
  return [
    ['Object.create(null)', Object.create(null)],
    ['a Symbol', Symbol('thrown')],
    [
      'a Proxy that throws on get',
      new Proxy(
        {},
        {
          get() {
            throw new Error('get trap');
          },
        },
      ),
    ],
    ['a frozen object', Object.freeze({ reason: 'frozen' })],
    ['a frozen Error', Object.freeze(new Error('frozen error'))],
  ];
}

const LEVELS = ['debug', 'info', 'warn', 'silent'] as const;

/**
 * What a promise rejected with, in a box: resolving a promise with the Proxy itself would read its `then`.
 * Compared by identity (a matcher could read the odd value's properties).
 */
async function rejectionOf(promise: Promise<unknown>): Promise<{ err: unknown }> {
  try {
    await promise;
  } catch (err) {
    return { err };
  }
  throw new Error('expected a rejection');
}

describe('odd thrown values: no unhandled rejection and no leaked connection', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(level: string, config: PoolConfig = {}) {
    const app = appName('odd');
    const capture = captureLogs(level);
    const pool = createPool({
      connectionString: db.url,
      application_name: app,
      logger: capture.logger,
      acquireTimeoutMillis: 3_000,
      ...config,
    });
    pools.push(pool);
    return { pool, app, capture };
  }

  it.each(LEVELS)('thrown from onConnect, at log level %s', async (level) => {
    const watch = watchProcessErrors();
    try {
      for (const [label, value] of oddValues()) {
        const { pool, app, capture } = makePool(level, {
          onConnect: () => {
            throw value;
          },
        });
        const { err } = await rejectionOf(pool.acquire());
        expect(err, label).toBeInstanceOf(ConnectError);
        expect((err as Error).cause === value, label).toBe(true);
        expect(typeof (err as Error).message).toBe('string');
        // The same with `min`: the store's own attempt fails the same way, outside any caller.
        const kept = makePool(level, { min: 1, onConnect: () => Promise.reject(value) });
        await sleep(50);
        await pool.close();
        await kept.pool.close();
        expect(pool.stats(), label).toMatchObject({ borrowed: 0, size: 0 });
        expect(await waitForConnections(db.name, 0, { applicationName: app }), label).toBe(0);
        if (level !== 'silent') expect(capture.events('pool.connectError').length, label).toBeGreaterThan(0);
      }
      // Unhandled rejections are reported after the microtask queue drains: give them the chance.
      await sleep(100);
      expect(watch.errors).toEqual([]);
    } finally {
      watch.stop();
    }
  });

  it.each(LEVELS)('thrown from scope callbacks, at log level %s', async (level) => {
    const watch = watchProcessErrors();
    try {
      const { pool, capture } = makePool(level, { max: 2 });
      for (const [label, value] of oddValues()) {
        const scopes: Array<[string, () => Promise<unknown>]> = [
          [
            'acquire',
            () =>
              pool.acquire(async (conn) => {
                await conn.query('select 1');
                throw value;
              }),
          ],
          [
            'transaction',
            () =>
              pool.transaction(async (tx) => {
                await tx.query('select 1');
                throw value;
              }),
          ],
          [
            'transaction with retry',
            () =>
              pool.transaction(
                async () => {
                  throw value;
                },
                { retry: { maxAttempts: 3 } },
              ),
          ],
          [
            'savepoint',
            () =>
              pool.transaction(async (tx) => {
                await tx.transaction(async () => {
                  throw value;
                });
              }),
          ],
          [
            'transaction with a deadline',
            () =>
              pool.transaction(
                async (tx) => {
                  await tx.query('select 1');
                  throw value;
                },
                { timeoutMillis: 5_000 },
              ),
          ],
          [
            'the pgPool() view',
            () =>
              pool.transaction(async () => {
                await pool.pgPool().query('select 1');
                throw value;
              }),
          ],
        ];
        for (const [scope, run] of scopes) {
          const { err } = await rejectionOf(run());
          expect(err === value, `${label} from ${scope}`).toBe(true);
          expect(pool.stats().borrowed, `${label} from ${scope}`).toBe(0);
        }
      }
      // The pool still works, and its connections were given back, not leaked.
      expect((await pool.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
      expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0 });
      expect(pool.stats().size).toBeLessThanOrEqual(2);
      if (level === 'debug') {
        const rollbacks = capture.events('tx.rollback').filter((r) => r.reason === 'error');
        expect(rollbacks.length).toBeGreaterThanOrEqual(oddValues().length * 5);
        for (const r of rollbacks) expect(typeof (r.err as { message?: unknown }).message).toBe('string');
      }
      await sleep(100);
      expect(watch.errors).toEqual([]);
    } finally {
      watch.stop();
    }
  });
});
