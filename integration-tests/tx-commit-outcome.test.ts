import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CommitUnknownError, isRetryable, LogEvent } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { expectHealthy, type FaultPool, faultPool } from './support/fault-kit.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';
import { type ProcessErrorWatch, rejection, settle, watchProcessErrors } from './support/pool-test-kit.js';
import { idsIn, pollFor, startTcpProxy, terminateBackend } from './support/tx-support.js';

/** How long the deferred trigger holds every COMMIT of a row in slow_items open. */
const SLOW_COMMIT_SECONDS = 1;
/** The resolver's bound without a scope deadline (rule 5), and slack for a loaded 2-core machine. */
const RESOLVE_BOUND_MILLIS = 5_000;
const SLACK_MILLIS = 4_000;

/**
 * Rule 5 with `resolveCommitOutcome` (the default): a COMMIT whose answer is lost with the connection is
 * asked about on another connection. The network is cut (at the fault proxy, both sides) or the backend is
 * terminated while a deferred constraint trigger holds the COMMIT open on the server, so the loss always
 * falls after the transaction's id was learned and before COMMIT's answer.
 */
describe('rule 5: a COMMIT lost in flight is resolved by asking the server', () => {
  let db: TestDatabase;
  let proxy: FaultProxy;
  let fp: FaultPool | undefined;
  let watch: ProcessErrorWatch;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table slow_items (id int primary key)');
    await db.admin(
      `create function hold_commit() returns trigger language plpgsql as $$
       begin
         perform pg_sleep(${SLOW_COMMIT_SECONDS});
         return null;
       end $$`,
    );
    await db.admin(
      `create constraint trigger slow_commit after insert on slow_items
       deferrable initially deferred for each row execute function hold_commit()`,
    );
    proxy = await startFaultProxy({ host: db.config.host, port: db.config.port });
  });

  afterAll(async () => {
    await proxy?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate slow_items');
    watch = watchProcessErrors();
  });

  afterEach(async () => {
    proxy.resume();
    await fp?.pool.close({ timeoutMillis: 5_000 });
    fp = undefined;
    // Late socket errors surface on the next turns of the event loop.
    await sleep(50);
    watch.stop();
    expect(watch.errors).toEqual([]);
  });

  /** Waits until a session of the pool runs COMMIT (held by the trigger); resolves with its pid. */
  function commitRunning(app: string): Promise<number> {
    return pollFor(
      'COMMIT to be running',
      async () => {
        const { rows } = await db.admin(
          `select pid from pg_stat_activity
            where datname = current_database() and application_name = $1
              and state = 'active' and query = 'COMMIT'`,
          [app],
        );
        return (rows[0] as { pid: number } | undefined)?.pid;
      },
      { timeoutMillis: SLOW_COMMIT_SECONDS * 1_000 - 100, everyMillis: 10 },
    );
  }

  /** What pg_xact_status says about `xid` now, asked on a connection of its own. */
  async function statusOf(xid: string): Promise<string> {
    const { rows } = await db.admin('select pg_xact_status($1::xid8) as status', [xid]);
    return (rows[0] as { status: string }).status;
  }

  function resolvedLines(pool: FaultPool) {
    return pool.log.withEvent(LogEvent.txCommitResolved);
  }

  it('callback form: a network cut during a COMMIT the server completes resolves with the value; one run, one row', async () => {
    fp = faultPool(db, proxy, { max: 2 });
    const before = fp.pool.stats();
    let runs = 0;
    const outcome = settle(
      fp.pool.transaction(async (tx) => {
        runs++;
        await tx.query('insert into slow_items values (1)');
        return 'value';
      }),
    );
    await commitRunning(fp.app);
    proxy.cutAll();
    const settled = await outcome;
    expect(settled).toMatchObject({ ok: true, value: 'value' });
    expect(runs).toBe(1);
    expect(await idsIn(db, 'slow_items')).toEqual([1]);
    const stats = fp.pool.stats();
    expect(stats.commits).toBe(before.commits + 1);
    expect(stats.rollbacks).toBe(before.rollbacks);
    const [line, ...more] = resolvedLines(fp);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 40, outcome: 'committed', xid: expect.stringMatching(/^\d+$/) });
    expect(await statusOf(line?.xid as string)).toBe('committed');
    await expectHealthy(db, fp);
  });

  it('await using form: tx.commit() resolves after a network cut the server survives; the row is there once', async () => {
    fp = faultPool(db, proxy, { max: 1 });
    {
      await using tx = await fp.pool.transaction();
      await tx.query('insert into slow_items values (2)');
      const committing = settle(tx.commit());
      await commitRunning(fp.app);
      proxy.cutAll();
      expect(await committing).toMatchObject({ ok: true });
      expect(tx.state).toBe('committed');
      await expect(tx.query('select 1')).rejects.toMatchObject({ code: 'SCOPE_CLOSED' });
    }
    expect(await idsIn(db, 'slow_items')).toEqual([2]);
    expect(resolvedLines(fp)).toMatchObject([{ outcome: 'committed' }]);
    expect(fp.pool.stats().commits).toBe(1);
    await expectHealthy(db, fp);
  });

  it('the backend terminated during COMMIT: rejects with the connection error (retryable), nothing committed', async () => {
    fp = faultPool(db, proxy, { max: 2 });
    const outcome = settle(
      fp.pool.transaction(async (tx) => {
        await tx.query('insert into slow_items values (3)');
      }),
    );
    expect(await terminateBackend(db, await commitRunning(fp.app))).toBe(true);
    const err = rejection(await outcome);
    expect(err).not.toBeInstanceOf(CommitUnknownError);
    expect(isRetryable(err)).toBe(true);
    expect(await idsIn(db, 'slow_items')).toEqual([]);
    const [line] = resolvedLines(fp);
    expect(line).toMatchObject({ outcome: 'aborted', xid: expect.stringMatching(/^\d+$/) });
    expect(await statusOf(line?.xid as string)).toBe('aborted');
    expect(fp.pool.stats()).toMatchObject({ commits: 0, rollbacks: 1 });
    await expectHealthy(db, fp);
  });

  it('the backend terminated during COMMIT, with retry: the callback runs again and commits exactly once', async () => {
    fp = faultPool(db, proxy, { max: 2 });
    let runs = 0;
    const outcome = settle(
      fp.pool.transaction(
        async (tx) => {
          runs++;
          await tx.query('insert into slow_items values (4)');
          return runs;
        },
        { retry: { maxAttempts: 3, baseDelayMillis: 5, maxDelayMillis: 20 } },
      ),
    );
    expect(await terminateBackend(db, await commitRunning(fp.app))).toBe(true);
    expect(await outcome).toMatchObject({ ok: true, value: 2 });
    expect(runs).toBe(2);
    expect(await idsIn(db, 'slow_items')).toEqual([4]);
    expect(resolvedLines(fp)).toMatchObject([{ outcome: 'aborted' }]);
    expect(fp.pool.stats()).toMatchObject({ commits: 1, rollbacks: 1 });
    await expectHealthy(db, fp);
  });

  it('await using form: the backend terminated during tx.commit() rejects with the connection error', async () => {
    fp = faultPool(db, proxy, { max: 1 });
    {
      await using tx = await fp.pool.transaction();
      await tx.query('insert into slow_items values (5)');
      const committing = settle(tx.commit());
      expect(await terminateBackend(db, await commitRunning(fp.app))).toBe(true);
      const err = rejection(await committing);
      expect(err).not.toBeInstanceOf(CommitUnknownError);
      expect(isRetryable(err)).toBe(true);
      expect(tx.state).toBe('failed');
    }
    expect(await idsIn(db, 'slow_items')).toEqual([]);
    await expectHealthy(db, fp);
  });

  it('the server unreachable after the cut: CommitUnknownError with the xid, within the bound', async () => {
    fp = faultPool(db, proxy, { max: 2 });
    const outcome = settle(
      fp.pool.transaction(async (tx) => {
        await tx.query('insert into slow_items values (6)');
      }),
    );
    await commitRunning(fp.app);
    proxy.refuse(true);
    const cutAt = performance.now();
    proxy.cutAll();
    const settled = await outcome;
    const millis = performance.now() - cutAt;
    const err = rejection(settled);
    expect(err).toBeInstanceOf(CommitUnknownError);
    const xid = (err as CommitUnknownError).xid;
    expect(xid).toMatch(/^\d+$/);
    expect((err as Error).message).toContain(xid);
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(isRetryable(err)).toBe(false);
    expect(millis).toBeLessThan(RESOLVE_BOUND_MILLIS + SLACK_MILLIS);
    expect(resolvedLines(fp)).toEqual([]);
    // The application can ask later: the server did complete it.
    await pollFor('the transaction to end', async () =>
      (await statusOf(xid as string)) === 'in progress' ? undefined : true,
    );
    expect(await statusOf(xid as string)).toBe('committed');
    expect(await idsIn(db, 'slow_items')).toEqual([6]);
    proxy.resume();
    await expectHealthy(db, fp);
  });

  it("the scope's deadline bounds the question when it comes before 5 s", async () => {
    fp = faultPool(db, proxy, { max: 2 });
    const timeoutMillis = SLOW_COMMIT_SECONDS * 1_000 + 1_500;
    const started = performance.now();
    const outcome = settle(
      fp.pool.transaction(
        async (tx) => {
          await tx.query('insert into slow_items values (7)');
        },
        { timeoutMillis },
      ),
    );
    await commitRunning(fp.app);
    proxy.refuse(true);
    proxy.cutAll();
    const err = rejection(await outcome);
    expect(err).toBeInstanceOf(CommitUnknownError);
    expect((err as CommitUnknownError).xid).toMatch(/^\d+$/);
    expect(performance.now() - started).toBeLessThan(timeoutMillis + SLACK_MILLIS);
    proxy.resume();
    await expectHealthy(db, fp);
  });

  it('resolveCommitOutcome: false: CommitUnknownError as before, without an id, and nothing asked', async () => {
    fp = faultPool(db, proxy, { max: 2, resolveCommitOutcome: false });
    const outcome = settle(
      fp.pool.transaction(async (tx) => {
        await tx.query('insert into slow_items values (8)');
      }),
    );
    await commitRunning(fp.app);
    proxy.cutAll();
    const err = rejection(await outcome);
    expect(err).toBeInstanceOf(CommitUnknownError);
    expect((err as CommitUnknownError).xid).toBeUndefined();
    expect(resolvedLines(fp)).toEqual([]);
    // The server completed it: the outcome was the caller's to find out.
    await pollFor('the row to be committed', async () =>
      (await idsIn(db, 'slow_items')).length === 1 ? true : undefined,
    );
    expect(fp.pool.stats().commits).toBe(0);
    await expectHealthy(db, fp);
  });

  it('on a connection the caller acquired: the question takes the lost connection away and resolves', async () => {
    fp = faultPool(db, proxy, { max: 1 });
    const pool = fp.pool;
    const value = await pool.acquire(async (conn) => {
      const committing = settle(
        conn.transaction(async (tx) => {
          await tx.query('insert into slow_items values (9)');
          return 'done';
        }),
      );
      await commitRunning(fp?.app as string);
      proxy.cutAll();
      return committing;
    });
    expect(value).toMatchObject({ ok: true, value: 'done' });
    expect(await idsIn(db, 'slow_items')).toEqual([9]);
    await expectHealthy(db, fp);
  });

  describe('the id learned before COMMIT (with the statement after the first write)', () => {
    /** faultPool reads only the host and port of its proxy: the round-trip proxy, which can drop one write. */
    const viaTcp = (port: number) => ({ host: '127.0.0.1', port }) as FaultProxy;

    it('a COMMIT dropped on its way out is known not to have committed: rejects retryable; retry commits once', async () => {
      const tcp = await startTcpProxy(db.config);
      const pool = faultPool(db, viaTcp(tcp.port), { max: 1 });
      fp = pool;
      try {
        let runs = 0;
        const value = await pool.pool.transaction(
          async (tx) => {
            runs++;
            await tx.query('insert into slow_items values (10 + $1::int)', [runs]);
            // The id rides in front of this statement, so it is known before COMMIT is sent.
            await tx.query('select 1');
            // Attempt 1: COMMIT's write is dropped and the connection cut before the server reads it.
            if (runs === 1) tcp.cutOnNextClientWrite();
            return runs;
          },
          { retry: { maxAttempts: 2, baseDelayMillis: 5, maxDelayMillis: 20 } },
        );
        expect(value).toBe(2);
        expect(await idsIn(db, 'slow_items')).toEqual([12]);
        expect(resolvedLines(pool)).toMatchObject([
          { outcome: 'aborted', xid: expect.stringMatching(/^\d+$/) },
        ]);
        expect(pool.pool.stats()).toMatchObject({ commits: 1, rollbacks: 1 });
      } finally {
        await pool.pool.close();
        fp = undefined;
        await tcp.close();
      }
    });

    it('a read-only transaction: its dropped COMMIT rejects retryable (nothing could be lost), and retry runs it again', async () => {
      const tcp = await startTcpProxy(db.config);
      const pool = faultPool(db, viaTcp(tcp.port), { max: 1 });
      fp = pool;
      try {
        const read = (cut: boolean) => async (tx: import('../src/index.js').Transaction) => {
          const { rows } = await tx.query<{ n: number }>('select count(*)::int as n from slow_items');
          if (cut) tcp.cutOnNextClientWrite();
          return rows[0]?.n;
        };
        const settled = await settle(pool.pool.transaction(read(true), { readOnly: true }));
        const err = rejection(settled);
        expect(err).not.toBeInstanceOf(CommitUnknownError);
        expect(isRetryable(err)).toBe(true);
        expect(resolvedLines(pool)).toEqual([]);

        let attempts = 0;
        const value = await pool.pool.transaction(
          async (tx) => {
            attempts++;
            return read(attempts === 1)(tx);
          },
          { readOnly: true, retry: { maxAttempts: 3 } },
        );
        expect(attempts).toBe(2);
        expect(value).toEqual(expect.any(Number));
      } finally {
        await pool.pool.close();
        fp = undefined;
        await tcp.close();
      }
    });

    it('the same with resolveCommitOutcome: false is CommitUnknownError, and nothing is run again', async () => {
      const tcp = await startTcpProxy(db.config);
      const pool = faultPool(db, viaTcp(tcp.port), { max: 1, resolveCommitOutcome: false });
      fp = pool;
      try {
        let runs = 0;
        const settled = await settle(
          pool.pool.transaction(
            async (tx) => {
              runs++;
              await tx.query('insert into slow_items values (20)');
              await tx.query('select 1');
              tcp.cutOnNextClientWrite();
            },
            { retry: { maxAttempts: 2, baseDelayMillis: 5, maxDelayMillis: 20 } },
          ),
        );
        expect(rejection(settled)).toBeInstanceOf(CommitUnknownError);
        expect(runs).toBe(1);
        expect(await idsIn(db, 'slow_items')).toEqual([]);
      } finally {
        await pool.pool.close();
        fp = undefined;
        await tcp.close();
      }
    });
  });
});
