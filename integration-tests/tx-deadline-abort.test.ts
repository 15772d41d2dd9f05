import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Pool, TransactionTimeoutError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { idsIn, pollFor, poolFor } from './support/tx-support.js';

describe('transaction deadline and abort signal', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
    pool = poolFor(db, { max: 2 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate items');
  });

  /** Sessions of the test database (other than the asking one) running a statement that contains `tag`. */
  async function runningWith(tag: string): Promise<number> {
    const result = await db.admin(
      `select count(*)::int as n from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and state = 'active'
          and position($1 in query) > 0`,
      [tag],
    );
    return (result.rows[0] as { n: number }).n;
  }

  /** Resolves once no session runs a statement containing `tag` (polling up to 2 s); rejects otherwise. */
  async function gone(tag: string): Promise<void> {
    await pollFor(`${tag} to stop running`, async () => ((await runningWith(tag)) === 0 ? true : undefined), {
      timeoutMillis: 2_000,
      everyMillis: 20,
    });
  }

  /** The pool still works: a transaction commits and no connection is borrowed. */
  async function expectHealthy(): Promise<void> {
    await pool.transaction((tx) => tx.query('insert into items values (1000)'));
    expect(await idsIn(db, 'items')).toContain(1000);
    expect(pool.stats().borrowed).toBe(0);
  }

  it('timeoutMillis: cancels the running query, rolls back, and rejects with TransactionTimeoutError in time', async () => {
    const tag = 'deadline-callback';
    const started = performance.now();
    const err = await pool
      .transaction(
        async (tx) => {
          await tx.query('insert into items values (1)');
          await tx.query(`select pg_sleep(10) /* ${tag} */`);
        },
        { timeoutMillis: 500 },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(TransactionTimeoutError);
    expect(err).toMatchObject({ code: 'TX_TIMEOUT', timeoutMillis: 500 });
    expect(elapsed).toBeGreaterThanOrEqual(490);
    expect(elapsed).toBeLessThan(1_500);
    await gone(tag);
    expect(await idsIn(db, 'items')).toEqual([]);
    await expectHealthy();
  });

  it('timeoutMillis: the deadline covers a callback that is not in a query too', async () => {
    const started = performance.now();
    let late = false;
    const err = await pool
      .transaction(
        async (tx) => {
          await tx.query('insert into items values (2)');
          await sleep(1_500);
          late = true;
        },
        { timeoutMillis: 300 },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(TransactionTimeoutError);
    expect(performance.now() - started).toBeLessThan(1_300);
    expect(late).toBe(false);
    expect(await idsIn(db, 'items')).toEqual([]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('timeoutMillis in the await using form: the running query is cancelled, later use and commit reject', async () => {
    const tag = 'deadline-using';
    const started = performance.now();
    {
      await using tx = await pool.transaction({ timeoutMillis: 500 });
      await tx.query('insert into items values (3)');
      await expect(tx.query(`select pg_sleep(10) /* ${tag} */`)).rejects.toBeDefined();
      expect(performance.now() - started).toBeLessThan(1_500);
      await expect(tx.query('insert into items values (4)')).rejects.toBeInstanceOf(TransactionTimeoutError);
      await expect(tx.commit()).rejects.toBeInstanceOf(TransactionTimeoutError);
    }
    await gone(tag);
    expect(await idsIn(db, 'items')).toEqual([]);
    await expectHealthy();
  });

  it('abort: rejects with the exact reason object, cancels the query and rolls back', async () => {
    const tag = 'abort-mid-query';
    const controller = new AbortController();
    const reason = new Error('stop');
    const outcome = pool.transaction(
      async (tx) => {
        await tx.query('insert into items values (5)');
        await tx.query(`select pg_sleep(10) /* ${tag} */`);
      },
      { signal: controller.signal },
    );
    await pollFor('the sleep to start', async () => ((await runningWith(tag)) > 0 ? true : undefined));
    const abortedAt = performance.now();
    controller.abort(reason);
    const err = await outcome.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBe(reason);
    expect(performance.now() - abortedAt).toBeLessThan(1_000);
    await gone(tag);
    expect(await idsIn(db, 'items')).toEqual([]);
    await expectHealthy();
  });

  it('abort in the await using form: later use rejects with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stop using');
    {
      await using tx = await pool.transaction({ signal: controller.signal });
      await tx.query('insert into items values (6)');
      controller.abort(reason);
      await expect(tx.query('insert into items values (7)')).rejects.toBe(reason);
      await expect(tx.commit()).rejects.toBe(reason);
    }
    expect(await idsIn(db, 'items')).toEqual([]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('a pre-aborted signal rejects at once with its reason, without running the callback or sending anything', async () => {
    const reason = new Error('already aborted');
    const before = pool.stats();
    let ran = false;
    const started = performance.now();
    await expect(
      pool.transaction(
        async (tx) => {
          ran = true;
          await tx.query('insert into items values (8)');
        },
        { signal: AbortSignal.abort(reason) },
      ),
    ).rejects.toBe(reason);
    await expect(pool.transaction({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(100);
    expect(ran).toBe(false);
    const after = pool.stats();
    expect(after.acquired).toBe(before.acquired);
    expect(after.created).toBe(before.created);
    expect(after.commits + after.rollbacks).toBe(before.commits + before.rollbacks);
    expect(await idsIn(db, 'items')).toEqual([]);
  });

  it('a pre-aborted signal on conn.transaction rejects with its reason and leaves the connection usable', async () => {
    const reason = new Error('already aborted');
    await pool.acquire(async (conn) => {
      let ran = false;
      await expect(
        conn.transaction(
          async () => {
            ran = true;
          },
          { signal: AbortSignal.abort(reason) },
        ),
      ).rejects.toBe(reason);
      expect(ran).toBe(false);
      await expect(conn.transaction({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      const result = await conn.query<{ one: number }>('select 1 as one');
      expect(result.rows).toEqual([{ one: 1 }]);
    });
  });

  it('a signal that never fires and a deadline that is not reached change nothing', async () => {
    const controller = new AbortController();
    const value = await pool.transaction(
      async (tx) => {
        await tx.query('insert into items values (9)');
        return 'ok';
      },
      { signal: controller.signal, timeoutMillis: 5_000 },
    );
    expect(value).toBe('ok');
    controller.abort(new Error('after the end'));
    await sleep(20);
    expect(await idsIn(db, 'items')).toEqual([9]);
    expect(pool.stats().borrowed).toBe(0);
  });
});
