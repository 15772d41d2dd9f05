import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CommitUnknownError, isRetryable, type Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import {
  backendPid,
  capturingLogger,
  idsIn,
  pollFor,
  poolFor,
  startTcpProxy,
  type TcpProxy,
  terminateBackend,
  waitUntilGone,
  watchProcessErrors,
} from './support/tx-support.js';

describe('connection lost during a transaction', () => {
  let db: TestDatabase;
  let pool: Pool;
  let processErrors: ReturnType<typeof watchProcessErrors>;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
    // COMMIT of a row in slow_items runs this deferred trigger, which holds the COMMIT open for a second.
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
    pool = poolFor(db, { max: 2 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate items, slow_items');
    processErrors = watchProcessErrors();
  });

  afterEach(async () => {
    // Late socket errors surface on the next turns of the event loop.
    await sleep(50);
    expect(processErrors.stop()).toEqual([]);
  });

  /** The pool is healthy: nothing borrowed, and a transaction commits. */
  async function expectHealthy(p: Pool = pool): Promise<void> {
    expect(p.stats().borrowed).toBe(0);
    await p.transaction((tx) => tx.query('insert into items values (1000)'));
    expect(await idsIn(db, 'items')).toContain(1000);
    expect(p.stats().borrowed).toBe(0);
  }

  /** Waits for a backend of the test database to be running COMMIT, and terminates it. Resolves with its pid. */
  async function terminateDuringCommit(): Promise<number> {
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
      { timeoutMillis: 900, everyMillis: 10 },
    );
    expect(await terminateBackend(db, pid)).toBe(true);
    return pid;
  }

  describe('rule 5 with resolveCommitOutcome: false: the backend is terminated while COMMIT is in flight', () => {
    // With the option on (the default) the server is asked instead: tx-commit-outcome.test.ts.
    let unresolved: Pool;

    beforeAll(() => {
      unresolved = poolFor(db, { max: 2, resolveCommitOutcome: false });
    });

    afterAll(async () => {
      await unresolved?.close();
    });

    it('callback form rejects with CommitUnknownError, cause set, and the pool stays healthy', async () => {
      const before = unresolved.stats();
      let runs = 0;
      const outcome = unresolved.transaction(async (tx) => {
        runs++;
        await tx.query('insert into slow_items values (1)');
        return 'value';
      });
      const [err] = await Promise.all([
        outcome.then(
          () => undefined,
          (e: unknown) => e,
        ),
        terminateDuringCommit(),
      ]);
      expect(err).toBeInstanceOf(CommitUnknownError);
      expect(err).toMatchObject({ code: 'COMMIT_UNKNOWN' });
      expect((err as Error).cause).toBeDefined();
      expect((err as Error).cause).not.toBeInstanceOf(CommitUnknownError);
      expect(runs).toBe(1);
      expect(unresolved.stats().commits).toBe(before.commits);
      expect(unresolved.stats().destroyed).toBe(before.destroyed + 1);
      await expectHealthy(unresolved);
    });

    it('await using form: tx.commit() rejects with CommitUnknownError', async () => {
      const before = unresolved.stats();
      {
        await using tx = await unresolved.transaction();
        await tx.query('insert into slow_items values (2)');
        const [err] = await Promise.all([
          tx.commit().then(
            () => undefined,
            (e: unknown) => e,
          ),
          terminateDuringCommit(),
        ]);
        expect(err).toBeInstanceOf(CommitUnknownError);
        expect((err as Error).cause).toBeDefined();
        await expect(tx.query('select 1')).rejects.toMatchObject({ code: 'SCOPE_CLOSED' });
      }
      expect(unresolved.stats().destroyed).toBe(before.destroyed + 1);
      await expectHealthy(unresolved);
    });
  });

  describe('the backend is terminated between two statements', () => {
    it('the next statement rejects with a connection error, the scope rejects, and the connection is replaced', async () => {
      const before = pool.stats();
      let pid = 0;
      let secondError: unknown;
      const outcome = pool.transaction(async (tx) => {
        await tx.query('insert into items values (1)');
        pid = await backendPid(tx);
        expect(await terminateBackend(db, pid)).toBe(true);
        await waitUntilGone(db, pid);
        await tx.query('insert into items values (2)').catch((err: unknown) => {
          secondError = err;
          throw err;
        });
      });
      const err = await outcome.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(secondError).toBeInstanceOf(Error);
      expect(isRetryable(secondError)).toBe(true);
      expect(err).toBe(secondError);
      expect(await idsIn(db, 'items')).toEqual([]);
      expect(pool.stats().destroyed).toBe(before.destroyed + 1);
      expect(pool.stats().borrowed).toBe(0);

      const nextPid = await pool.transaction((tx) => backendPid(tx));
      expect(nextPid).not.toBe(pid);
      await expectHealthy();
    });

    it('await using form: COMMIT is not sent on the lost connection; it rejects with the connection error, not CommitUnknownError', async () => {
      const before = pool.stats();
      {
        await using tx = await pool.transaction();
        await tx.query('insert into items values (3)');
        const pid = await backendPid(tx);
        await terminateBackend(db, pid);
        await waitUntilGone(db, pid);
        const err = await tx.commit().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(Error);
        expect(err).not.toBeInstanceOf(CommitUnknownError);
        expect(isRetryable(err)).toBe(true);
      }
      expect(await idsIn(db, 'items')).toEqual([]);
      expect(pool.stats().destroyed).toBe(before.destroyed + 1);
      await expectHealthy();
    });
  });

  describe('rule 6: ROLLBACK fails', () => {
    it('backend terminated after a failed statement: rejects with the original error, connection destroyed', async () => {
      const before = pool.stats();
      let pid = 0;
      let original: unknown;
      const outcome = pool.transaction(async (tx) => {
        pid = await backendPid(tx);
        await tx.query('insert into items values (10)');
        original = await tx.query('select 1/0').catch((err: unknown) => err);
        await terminateBackend(db, pid);
        throw original;
      });
      const err = await outcome.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(original).toBeInstanceOf(pg.DatabaseError);
      expect(original).toMatchObject({ code: '22012' });
      expect(err).toBe(original);
      expect(pool.stats().destroyed).toBe(before.destroyed + 1);
      expect(pool.stats().borrowed).toBe(0);
      const nextPid = await pool.transaction((tx) => backendPid(tx));
      expect(nextPid).not.toBe(pid);
      expect(await idsIn(db, 'items')).toEqual([]);
      await expectHealthy();
    });

    describe('through a proxy that cuts the connection when ROLLBACK is sent', () => {
      let proxy: TcpProxy;

      beforeAll(async () => {
        proxy = await startTcpProxy(db.config);
      });

      afterAll(async () => {
        await proxy?.close();
      });

      it('rejects with the original error, attaches the ROLLBACK failure as suppressed, logs at error, destroys the connection', async () => {
        const { logger, lines } = capturingLogger();
        const cut = poolFor(db, {
          ...db.config,
          connectionString: undefined,
          port: proxy.port,
          max: 1,
          logger,
        });
        try {
          const original = new Error('callback failed');
          const outcome = cut.transaction(async (tx) => {
            await tx.query('insert into items values (20)');
            // The ROLLBACK that follows the throw is written, then the connection dies before any answer.
            proxy.cutOnNextClientWrite();
            throw original;
          });
          const err = await outcome.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBe(original);
          expect((original as Error & { suppressed?: unknown }).suppressed).toBeInstanceOf(Error);
          const failed = lines.find((line) => line.event === 'tx.rollbackFailed');
          expect(failed?.level).toBe(50);
          const stats = cut.stats();
          expect(stats.destroyed).toBe(1);
          expect(stats.borrowed).toBe(0);
          expect(await idsIn(db, 'items')).toEqual([]);
          await expectHealthy(cut);
          expect(cut.stats().created).toBe(2);
        } finally {
          await cut.close();
        }
      });

      it('a network cut while COMMIT is in flight is CommitUnknownError too', async () => {
        const cut = poolFor(db, { ...db.config, connectionString: undefined, port: proxy.port, max: 1 });
        try {
          {
            await using tx = await cut.transaction();
            await tx.query('insert into items values (30)');
            proxy.cutOnNextClientWrite();
            const err = await tx.commit().then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(err).toBeInstanceOf(CommitUnknownError);
            expect((err as Error).cause).toBeInstanceOf(Error);
          }
          // The proxy dropped the COMMIT: the server rolled the transaction back when the connection died.
          expect(await idsIn(db, 'items')).toEqual([]);
          expect(cut.stats().destroyed).toBe(1);
          await expectHealthy(cut);
        } finally {
          await cut.close();
        }
      });
    });
  });
});
