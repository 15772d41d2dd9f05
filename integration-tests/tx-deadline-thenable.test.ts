import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Pool, TransactionTimeoutError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { idsIn, poolFor } from './support/tx-support.js';

/** What a pending scope resolves to if it is still pending after `millis` (so a hang fails instead of timing out). */
const STILL_PENDING = Symbol('still pending');
function within<T>(promise: Promise<T>, millis: number): Promise<T | symbol> {
  return Promise.race([promise, sleep(millis).then(() => STILL_PENDING)]);
}

/** A hand-made thenable that never calls back: not a native promise, so `instanceof Promise` misses it. */
function neverSettles(): Promise<void> {
  // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable is what this test is about.
  return { then() {} } as unknown as Promise<void>;
}

/**
 * `timeoutMillis` and `signal` cut off a callback that returns a thenable that is not a native promise (a
 * Bluebird promise, a query builder): the callback's result is adopted with `Promise.resolve` before it races
 * the deadline.
 */
describe('the deadline cuts off a callback returning a non-native thenable', () => {
  let db: TestDatabase;
  let pool: Pool;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
    pool = poolFor(db, { max: 1 });
    // The connection is open before the first deadline starts: opening it may take longer than 150 ms under load.
    await pool.query('select 1');
    process.on('unhandledRejection', onUnhandled);
  });

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate items');
    unhandled.length = 0;
  });

  async function expectHealthy(): Promise<void> {
    expect(pool.stats().borrowed).toBe(0);
    await pool.transaction((tx) => tx.query('insert into items values (1000)'));
    expect(await idsIn(db, 'items')).toEqual([1000]);
  }

  it('a thenable that never settles: rejects with TransactionTimeoutError and rolls back', async () => {
    const outcome = await within(
      pool
        .transaction(
          (tx) => {
            void tx.query('insert into items values (2)');
            return neverSettles();
          },
          { timeoutMillis: 150 },
        )
        .catch((err: unknown) => err),
      5_000,
    );
    expect(outcome).toBeInstanceOf(TransactionTimeoutError);
    expect(outcome).toMatchObject({ timeoutMillis: 150 });
    expect(await idsIn(db, 'items')).toEqual([]);
    await expectHealthy();
  });

  it('a thenable that never settles: an abort signal cuts it off too', async () => {
    const controller = new AbortController();
    const reason = new Error('request cancelled');
    const pending = pool
      .transaction(
        (tx) => {
          void tx.query('insert into items values (3)');
          setTimeout(() => controller.abort(reason), 50);
          return neverSettles();
        },
        { signal: controller.signal },
      )
      .catch((err: unknown) => err);
    expect(await within(pending, 5_000)).toBe(reason);
    expect(await idsIn(db, 'items')).toEqual([]);
    await expectHealthy();
  });

  it('a thenable that settles after the deadline: rejected at the deadline, its late value and error ignored', async () => {
    const settled: string[] = [];
    const late = (outcome: 'resolve' | 'reject') =>
      ({
        // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable is what this test is about.
        then(resolve: (v: string) => void, reject: (e: unknown) => void) {
          setTimeout(() => {
            settled.push(outcome);
            if (outcome === 'resolve') resolve('late value');
            else reject(new Error('late failure'));
          }, 600);
        },
      }) as unknown as Promise<string>;
    for (const outcome of ['resolve', 'reject'] as const) {
      const err = await within(
        pool
          .transaction(
            (tx) => {
              void tx.query('insert into items values (4)');
              return late(outcome);
            },
            { timeoutMillis: 100 },
          )
          .catch((e: unknown) => e),
        5_000,
      );
      expect(err).toBeInstanceOf(TransactionTimeoutError);
      // The scope rejected before the thenable settled.
      expect(settled).not.toContain(outcome);
      await sleep(700);
      expect(settled).toContain(outcome);
    }
    expect(await idsIn(db, 'items')).toEqual([]);
    expect(unhandled).toEqual([]);
    await expectHealthy();
  });

  it('a thenable that settles before the deadline: the transaction commits and resolves with its value', async () => {
    const value = await pool.transaction(
      (tx) =>
        ({
          // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable is what this test is about.
          then(resolve: (v: string) => void, reject: (e: unknown) => void) {
            tx.query('insert into items values (5)').then(() => resolve('in time'), reject);
          },
        }) as unknown as Promise<string>,
      { timeoutMillis: 5_000 },
    );
    expect(value).toBe('in time');
    expect(await idsIn(db, 'items')).toEqual([5]);
  });
});
