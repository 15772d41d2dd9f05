import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { CommitUnknownError, isRetryable, type Pool, type Transaction } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import {
  backendPid,
  idsIn,
  pollFor,
  poolFor,
  terminateBackend,
  waitUntilGone,
} from './support/tx-support.js';

/** A promise with its resolve function, to make two transactions wait for each other. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('transaction retry', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table ledger (who text not null, v int not null)');
    await db.admin('create table items (id int primary key)');
    await db.admin('create table slow_items (id int primary key)');
    await db.admin(
      `create function sleep_a_second() returns trigger language plpgsql as $$
       begin
         perform pg_sleep(1);
         return null;
       end $$`,
    );
    await db.admin(
      `create constraint trigger slow_commit after insert on slow_items
       deferrable initially deferred for each row execute function sleep_a_second()`,
    );
    await db.admin('create table locks (id int primary key, n int not null)');
    // COMMIT of a row in commit_conflicts fails with 40001 while commit_attempts is empty.
    await db.admin('create table commit_conflicts (id int primary key)');
    await db.admin('create table commit_attempts (n int not null)');
    await db.admin(
      `create function conflict_once() returns trigger language plpgsql as $$
       begin
         if (select count(*) from commit_attempts) = 0 then
           raise exception 'conflict at commit' using errcode = 'serialization_failure';
         end if;
         return null;
       end $$`,
    );
    await db.admin(
      `create constraint trigger conflict_at_commit after insert on commit_conflicts
       deferrable initially deferred for each row execute function conflict_once()`,
    );
    pool = poolFor(db, { max: 4 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate ledger, items, slow_items, locks, commit_conflicts, commit_attempts');
    await db.admin("insert into ledger values ('seed', 1)");
  });

  async function ledger(): Promise<{ who: string; v: number }[]> {
    const result = await db.admin('select who, v from ledger order by v, who');
    return result.rows as { who: string; v: number }[];
  }

  /**
   * Write skew: each transaction reads the sum of the ledger and appends a row with that sum. Serially, the
   * second one sees the first one's row. On the first attempt both have read before either writes, so under
   * serializable one of them must fail with 40001.
   */
  function writeSkew(retry: { maxAttempts: number } | undefined) {
    const runs = { a: 0, b: 0 };
    const bothRead = { a: signal(), b: signal() };
    const attempt = (who: 'a' | 'b') => async (tx: Transaction) => {
      runs[who]++;
      const result = await tx.query<{ sum: number }>('select sum(v)::int as sum from ledger');
      if (runs[who] === 1) {
        // Overlap for real on the first attempt only: a retry runs after the other one committed.
        bothRead[who].resolve();
        await bothRead[who === 'a' ? 'b' : 'a'].promise;
      }
      await tx.query('insert into ledger values ($1, $2)', [who, result.rows[0]?.sum]);
      return who;
    };
    const options = { isolation: 'serializable' as const, ...(retry ? { retry } : {}) };
    const outcomes = Promise.allSettled([
      pool.transaction(attempt('a'), options),
      pool.transaction(attempt('b'), options),
    ]);
    return { runs, outcomes };
  }

  it('two conflicting serializable transactions both succeed with retry, and the result is a serial order', async () => {
    const { runs, outcomes } = writeSkew({ maxAttempts: 5 });
    const [a, b] = await outcomes;
    expect(a).toEqual({ status: 'fulfilled', value: 'a' });
    expect(b).toEqual({ status: 'fulfilled', value: 'b' });
    // One of them ran again.
    expect(runs.a + runs.b).toBeGreaterThanOrEqual(3);
    const rows = await ledger();
    const aThenB = [
      { who: 'a', v: 1 },
      { who: 'seed', v: 1 },
      { who: 'b', v: 2 },
    ];
    const bThenA = [
      { who: 'b', v: 1 },
      { who: 'seed', v: 1 },
      { who: 'a', v: 2 },
    ];
    expect([aThenB, bThenA]).toContainEqual(rows);
  });

  it('without retry one of them rejects with 40001 and only the other one is applied', async () => {
    const { runs, outcomes } = writeSkew(undefined);
    const settled = await outcomes;
    const rejected = settled.filter((s) => s.status === 'rejected');
    const fulfilled = settled.filter((s) => s.status === 'fulfilled');
    expect(rejected).toHaveLength(1);
    expect(fulfilled).toHaveLength(1);
    const reason = (rejected[0] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(pg.DatabaseError);
    expect(reason).toMatchObject({ code: '40001' });
    expect(isRetryable(reason)).toBe(true);
    expect(runs).toEqual({ a: 1, b: 1 });
    const winner = (fulfilled[0] as PromiseFulfilledResult<string>).value;
    expect(await ledger()).toEqual(
      [
        { who: 'seed', v: 1 },
        { who: winner, v: 1 },
      ].sort((x, y) => x.who.localeCompare(y.who)),
    );
  });

  it('retries a deadlock (40P01): both transactions commit', async () => {
    await db.admin('insert into locks values (1, 0), (2, 0)');
    const runs = { a: 0, b: 0 };
    const locked = { a: signal(), b: signal() };
    const attempt = (who: 'a' | 'b', first: number, second: number) => async (tx: Transaction) => {
      runs[who]++;
      await tx.query('update locks set n = n + 1 where id = $1', [first]);
      if (runs[who] === 1) {
        locked[who].resolve();
        await locked[who === 'a' ? 'b' : 'a'].promise;
      }
      await tx.query('update locks set n = n + 1 where id = $1', [second]);
    };
    // Detect the deadlock quickly instead of after the default second.
    const options = { retry: { maxAttempts: 5 }, settings: { deadlock_timeout: '50ms' } };
    const settled = await Promise.allSettled([
      pool.transaction(attempt('a', 1, 2), options),
      pool.transaction(attempt('b', 2, 1), options),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(runs.a + runs.b).toBe(3);
    const result = await db.admin('select id, n from locks order by id');
    expect(result.rows).toEqual([
      { id: 1, n: 2 },
      { id: 2, n: 2 },
    ]);
  });

  it('without retry the deadlock victim rejects with 40P01', async () => {
    await db.admin('insert into locks values (1, 0), (2, 0)');
    const locked = { a: signal(), b: signal() };
    const attempt = (who: 'a' | 'b', first: number, second: number) => async (tx: Transaction) => {
      await tx.query('update locks set n = n + 1 where id = $1', [first]);
      locked[who].resolve();
      await locked[who === 'a' ? 'b' : 'a'].promise;
      await tx.query('update locks set n = n + 1 where id = $1', [second]);
    };
    const options = { settings: { deadlock_timeout: '50ms' } };
    const settled = await Promise.allSettled([
      pool.transaction(attempt('a', 1, 2), options),
      pool.transaction(attempt('b', 2, 1), options),
    ]);
    const rejected = settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toMatchObject({ code: '40P01' });
    expect(isRetryable(rejected[0]?.reason)).toBe(true);
  });

  it('retries a transaction whose connection was lost before COMMIT was sent', async () => {
    let runs = 0;
    const pids: number[] = [];
    const value = await pool.transaction(
      async (tx) => {
        runs++;
        pids.push(await backendPid(tx));
        await tx.query('insert into items values (1)');
        if (runs === 1) {
          const pid = pids[0] ?? 0;
          await terminateBackend(db, pid);
          await waitUntilGone(db, pid);
          await tx.query('insert into items values (2)');
        }
        return runs;
      },
      { retry: { maxAttempts: 3, baseDelayMillis: 1 } },
    );
    expect(value).toBe(2);
    expect(runs).toBe(2);
    expect(pids[1]).not.toBe(pids[0]);
    expect(await idsIn(db, 'items')).toEqual([1]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('never retries after CommitUnknownError', async () => {
    // With the default resolveCommitOutcome the server is asked, and says the terminated COMMIT did not commit
    // (then retry runs it again: tx-commit-outcome.test.ts); without it the outcome stays unknown.
    const unresolved = poolFor(db, { max: 2, resolveCommitOutcome: false });
    onTestFinished(() => unresolved.close());
    let runs = 0;
    const outcome = unresolved.transaction(
      async (tx) => {
        runs++;
        await tx.query('insert into slow_items values (1)');
      },
      { retry: { maxAttempts: 5, baseDelayMillis: 1 } },
    );
    const settled = outcome.then(
      () => undefined,
      (e: unknown) => e,
    );
    const pid = await pollFor(
      'COMMIT to be running',
      async () => {
        const result = await db.admin(
          `select pid from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid()
              and state = 'active' and query = 'COMMIT'`,
        );
        return (result.rows[0] as { pid: number } | undefined)?.pid;
      },
      { timeoutMillis: 900 },
    );
    await terminateBackend(db, pid);
    const err = await settled;
    expect(err).toBeInstanceOf(CommitUnknownError);
    expect(isRetryable(err)).toBe(false);
    expect(runs).toBe(1);
    expect(unresolved.stats().borrowed).toBe(0);
  });

  it('does not retry an error that is not retryable, and gives up after maxAttempts', async () => {
    let runs = 0;
    await expect(
      pool.transaction(
        async (tx) => {
          runs++;
          await tx.query('select 1/0');
        },
        { retry: { maxAttempts: 5, baseDelayMillis: 1 } },
      ),
    ).rejects.toMatchObject({ code: '22012' });
    expect(runs).toBe(1);

    let serializationRuns = 0;
    await expect(
      pool.transaction(
        async (tx) => {
          serializationRuns++;
          // RAISE with SQLSTATE 40001: a serialization failure every time.
          await tx.query(
            "do $$ begin raise exception 'always conflicts' using errcode = 'serialization_failure'; end $$",
          );
        },
        { retry: { maxAttempts: 3, baseDelayMillis: 1, maxDelayMillis: 5 } },
      ),
    ).rejects.toMatchObject({ code: '40001' });
    expect(serializationRuns).toBe(3);
  });

  it('retries a COMMIT that fails with 40001', async () => {
    let runs = 0;
    await pool.transaction(
      async (tx) => {
        runs++;
        if (runs > 1) await tx.query('insert into commit_attempts values (1)');
        await tx.query('insert into commit_conflicts values (1)');
      },
      { retry: { maxAttempts: 3, baseDelayMillis: 1 } },
    );
    expect(runs).toBe(2);
    expect(await idsIn(db, 'commit_conflicts')).toEqual([1]);
  });

  describe('isRetryable', () => {
    it('is true for a real connection loss and false for ordinary errors', async () => {
      const client = new pg.Client({ connectionString: db.url });
      client.on('error', () => {
        // Expected: the backend is terminated below.
      });
      await client.connect();
      try {
        const pid = await backendPid(client);
        await terminateBackend(db, pid);
        await waitUntilGone(db, pid);
        const lost = await client.query('select 1').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(lost).toBeInstanceOf(Error);
        expect(isRetryable(lost)).toBe(true);
      } finally {
        await client.end().catch(() => undefined);
      }
      const dup = await db.admin('select 1/0').catch((e: unknown) => e);
      expect(isRetryable(dup)).toBe(false);
      expect(isRetryable(new Error('plain'))).toBe(false);
      expect(isRetryable(undefined)).toBe(false);
      expect(isRetryable(new CommitUnknownError(new Error('Connection terminated unexpectedly')))).toBe(
        false,
      );
    });
  });
});
