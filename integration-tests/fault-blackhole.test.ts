import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CommitUnknownError,
  ConnectError,
  PoolExhaustedError,
  type Transaction,
  TransactionTimeoutError,
} from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { expectHealthy, type FaultPool, faultPool } from './support/fault-kit.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';
import { type ProcessErrorWatch, pollUntil, settle, watchProcessErrors } from './support/pool-test-kit.js';

/**
 * A blackhole (the network stops carrying packets, no FIN, no RST) is the fault no server-side timeout can end:
 * the server never hears the next statement, and the client waits for an answer that cannot come. These tests
 * show which client-side option ends the wait, and how soon.
 */

/** The transaction deadline used below, and the slack allowed past it on a loaded machine. */
const DEADLINE_MILLIS = 1_500;
/**
 * Past the deadline: the 1 s grace for the cancelled statement (the cancel request itself goes through the same
 * blackholed path and is not waited for), plus scheduling on a busy CI machine.
 */
const DEADLINE_SLACK_MILLIS = 3_000;

describe('fault: network blackhole', () => {
  let db: TestDatabase;
  let proxy: FaultProxy;
  let fp: FaultPool | undefined;
  let watch: ProcessErrorWatch;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
  });

  afterAll(async () => {
    await db?.drop();
  });

  afterEach(async () => {
    watch?.stop();
    proxy?.resume();
    await fp?.pool.close({ timeoutMillis: 5_000 });
    fp = undefined;
    await proxy?.close();
  });

  /** The pool's destroyed count once it reaches 1 (or `millis` passed). */
  function destroyedCount(pool: FaultPool['pool'], millis: number): Promise<number> {
    return pollUntil(
      () => pool.stats().destroyed,
      (n) => n >= 1,
      millis,
    );
  }

  async function setUp(config: Parameters<typeof faultPool>[2] = {}): Promise<FaultPool> {
    watch = watchProcessErrors();
    proxy = await startFaultProxy({ host: db.config.host, port: db.config.port });
    fp = faultPool(db, proxy, { max: 3, ...config });
    return fp;
  }

  it('while idle: the transaction deadline ends the wait, destroys the connection, the pool recovers', async () => {
    const { pool } = await setUp();
    await pool.query('select 1');
    expect(pool.stats()).toMatchObject({ idle: 1, created: 1 });

    const acceptedBefore = proxy.acceptedCount;
    proxy.blackhole();
    const outcome = await settle(
      pool.transaction(
        async (tx) => {
          // Two statements in one text: pg's simple protocol, which cannot carry BEGIN in its Sync.
          await tx.query('insert into items values (1); select 1');
        },
        { timeoutMillis: DEADLINE_MILLIS },
      ),
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.ok ? undefined : outcome.error).toBeInstanceOf(TransactionTimeoutError);
    expect(outcome.millis).toBeGreaterThanOrEqual(DEADLINE_MILLIS - 50);
    expect(outcome.millis).toBeLessThan(DEADLINE_MILLIS + DEADLINE_SLACK_MILLIS);
    console.log(`blackhole while idle: TransactionTimeoutError after ${Math.round(outcome.millis)} ms`);

    // The connection that could not answer is destroyed, not returned.
    expect(await destroyedCount(pool, 10_000)).toBe(1);
    expect(pool.stats()).toMatchObject({ borrowed: 0, idle: 0 });
    // No cancel request (each is a connection of its own) while BEGIN was unanswered: delivered once the
    // network is back, one that reached BEGIN would fail it and the insert behind it would commit on its own.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(proxy.acceptedCount).toBe(acceptedBefore);

    proxy.resume();
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp as FaultPool);
    // The insert was never committed.
    const { rows } = await pool.query('select count(*)::int as n from items where id = 1');
    expect(rows[0]).toEqual({ n: 0 });
  });

  for (const [what, statement] of [
    ['with parameters', (tx: Transaction) => tx.query('insert into items values ($1)', [4])],
    ['without parameters', (tx: Transaction) => tx.query('insert into items values (4)')],
  ] as const) {
    it(`while idle, a first statement ${what} (BEGIN in its Sync): a cancel may go, nothing commits`, async () => {
      const { pool } = await setUp();
      await pool.query('select 1');
      const acceptedBefore = proxy.acceptedCount;
      proxy.blackhole();
      const outcome = await settle(
        pool.transaction(
          async (tx) => {
            await statement(tx);
          },
          { timeoutMillis: DEADLINE_MILLIS },
        ),
      );
      expect(outcome.ok ? undefined : outcome.error).toBeInstanceOf(TransactionTimeoutError);
      expect(await destroyedCount(pool, 10_000)).toBe(1);
      // The deadline sends a cancel request (a connection of its own): with BEGIN in the statement's Sync it is
      // safe to, and this test is about what it does when delivered.
      const cancels = proxy.acceptedCount - acceptedBefore;
      console.log(`connections accepted at the proxy meanwhile (cancel requests): ${cancels}`);
      expect(cancels).toBeGreaterThanOrEqual(1);
      // Whatever reaches the server once the network is back (the flight, a cancel request landing on BEGIN
      // or on the insert), the server skips the insert when BEGIN fails and no COMMIT was ever sent.
      proxy.resume();
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(watch.errors).toEqual([]);
      await expectHealthy(db, fp as FaultPool);
      const { rows } = await pool.query('select count(*)::int as n from items where id = 4');
      expect(rows[0]).toEqual({ n: 0 });
    });
  }

  for (const [what, body, settings] of [
    [
      'with settings (the settings statement carries BEGIN, the insert has a Sync of its own)',
      async (tx: Transaction) => {
        await tx.query('insert into items values ($1)', [5]);
      },
      { 'app.tenant': '7' },
    ],
    [
      'two statements sent before the first answer (the second has a Sync of its own)',
      async (tx: Transaction) => {
        await Promise.all([
          tx.query('insert into items values ($1)', [5]),
          tx.query('insert into items values ($1)', [6]),
        ]);
      },
      undefined,
    ],
  ] as const) {
    it(`while idle, ${what}: no cancel while BEGIN is unanswered, nothing commits`, async () => {
      const { pool } = await setUp();
      await pool.query('select 1');
      const acceptedBefore = proxy.acceptedCount;
      proxy.blackhole();
      const outcome = await settle(
        pool.transaction(body, { timeoutMillis: DEADLINE_MILLIS, ...(settings ? { settings } : {}) }),
      );
      expect(outcome.ok ? undefined : outcome.error).toBeInstanceOf(TransactionTimeoutError);
      expect(await destroyedCount(pool, 10_000)).toBe(1);
      // A cancel request landing on BEGIN would fail it, and the statement in a Sync of its own behind would
      // commit on its own: none is sent.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(proxy.acceptedCount).toBe(acceptedBefore);
      proxy.resume();
      expect(watch.errors).toEqual([]);
      await expectHealthy(db, fp as FaultPool);
      const { rows } = await pool.query('select count(*)::int as n from items where id in (5, 6)');
      expect(rows[0]).toEqual({ n: 0 });
    });
  }

  it('mid-transaction: the deadline rejects the scope with TransactionTimeoutError, nothing commits', async () => {
    const { pool } = await setUp();
    let reachedSecondStatement = false;
    const outcome = await settle(
      pool.transaction(
        async (tx) => {
          await tx.query('insert into items values (2)');
          proxy.blackhole();
          reachedSecondStatement = true;
          await tx.query('insert into items values (3)');
        },
        { timeoutMillis: DEADLINE_MILLIS },
      ),
    );
    expect(reachedSecondStatement).toBe(true);
    expect(outcome.ok).toBe(false);
    expect(outcome.ok ? undefined : outcome.error).toBeInstanceOf(TransactionTimeoutError);
    expect(outcome.millis).toBeLessThan(DEADLINE_MILLIS + DEADLINE_SLACK_MILLIS);
    console.log(`blackhole mid-transaction: TransactionTimeoutError after ${Math.round(outcome.millis)} ms`);
    expect(await destroyedCount(pool, 10_000)).toBe(1);

    proxy.resume();
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp as FaultPool);
    const { rows } = await pool.query('select count(*)::int as n from items where id in (2, 3)');
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('a new connection into the blackhole: connectTimeoutMillis bounds it, the acquire rejects typed', async () => {
    const { pool } = await setUp({ connectTimeoutMillis: 500, acquireTimeoutMillis: 2_000 });
    proxy.blackhole();
    const outcome = await settle(pool.query('select 1'));
    expect(outcome.ok).toBe(false);
    const err = outcome.ok ? undefined : outcome.error;
    expect(err instanceof ConnectError || err instanceof PoolExhaustedError).toBe(true);
    expect((err as Error).cause).toBeDefined();
    expect(outcome.millis).toBeLessThan(2_000 + 2_000);
    // Paced: a handful of attempts in two seconds, not a loop.
    expect(proxy.acceptedCount).toBeGreaterThanOrEqual(1);
    expect(proxy.acceptedCount).toBeLessThanOrEqual(10);

    proxy.resume();
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp as FaultPool);
  });

  it('query_timeout (a pg ClientConfig field) bounds one statement; the connection is not reused', async () => {
    const { pool } = await setUp({ query_timeout: 500 });
    await pool.query('select 1');
    proxy.blackhole();
    const outcome = await settle(pool.query('select 2'));
    expect(outcome.ok).toBe(false);
    expect((outcome.ok ? undefined : (outcome.error as Error))?.message).toBe('Query read timeout');
    expect(outcome.millis).toBeLessThan(500 + 3_000);
    // Its answer may still arrive: a connection with a statement in flight must not go back to the pool.
    expect(await destroyedCount(pool, 5_000)).toBe(1);

    proxy.resume();
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp as FaultPool);
  });

  it('query_timeout on COMMIT: the outcome is unknown, so the scope rejects with CommitUnknownError', async () => {
    const { pool } = await setUp({ query_timeout: 500 });
    const outcome = await settle(
      pool.transaction(async (tx) => {
        await tx.query('insert into items values (4)');
        // The next thing on the wire is COMMIT: it reaches the proxy and goes no further.
        proxy.blackhole();
      }),
    );
    expect(outcome.ok).toBe(false);
    const err = outcome.ok ? undefined : outcome.error;
    expect(err).toBeInstanceOf(CommitUnknownError);
    expect(((err as Error).cause as Error).message).toBe('Query read timeout');
    expect(outcome.millis).toBeLessThan(500 + 3_000);
    expect(await destroyedCount(pool, 5_000)).toBe(1);

    proxy.resume();
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp as FaultPool);
    // Why "unknown" is the only honest answer: the COMMIT sat in the partitioned network, and when the
    // network came back it was delivered (before the close that followed it) and the server committed.
    const { rows } = await pool.query('select count(*)::int as n from items where id = 4');
    expect(rows[0]).toEqual({ n: 1 });
  });
});
