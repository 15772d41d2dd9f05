import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Pool, TransactionRolledBackError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import {
  backendPid,
  capturingLogger,
  idsIn,
  poolFor,
  startTcpProxy,
  type TcpProxy,
} from './support/tx-support.js';

describe('COMMIT that does not commit', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table parents (id int primary key)');
    await db.admin(
      'create table children (id int primary key, parent_id int references parents deferrable initially deferred)',
    );
    await db.admin('create table items (id int primary key)');
    pool = poolFor(db, { max: 2 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate items, children, parents');
  });

  describe('rule 3: the server refuses COMMIT (deferred constraint)', () => {
    it("callback form rejects with pg's own error and commits nothing", async () => {
      const before = pool.stats();
      let ranToEnd = false;
      const outcome = pool.transaction(async (tx) => {
        await tx.query('insert into items values (1)');
        // Deferred: the dangling reference is accepted now and checked at COMMIT.
        await tx.query('insert into children values (1, 999)');
        ranToEnd = true;
        return 'would have committed';
      });
      const err = await outcome.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(ranToEnd).toBe(true);
      expect(err).toBeInstanceOf(pg.DatabaseError);
      expect(err).toMatchObject({ code: '23503' });
      expect(await idsIn(db, 'items')).toEqual([]);
      expect(await idsIn(db, 'children')).toEqual([]);
      const after = pool.stats();
      expect(after.commits - before.commits).toBe(0);
      expect(after.borrowed).toBe(0);
    });

    it("await using form: tx.commit() rejects with pg's own error and commits nothing", async () => {
      const before = pool.stats();
      {
        await using tx = await pool.transaction();
        await tx.query('insert into items values (2)');
        await tx.query('insert into children values (2, 999)');
        const err = await tx.commit().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(pg.DatabaseError);
        expect(err).toMatchObject({ code: '23503' });
        expect(tx.state).not.toBe('committed');
      }
      expect(await idsIn(db, 'items')).toEqual([]);
      expect(await idsIn(db, 'children')).toEqual([]);
      const after = pool.stats();
      expect(after.commits - before.commits).toBe(0);
      expect(after.borrowed).toBe(0);
    });

    it('on a connection of an acquire scope, the connection stays usable after the refused COMMIT', async () => {
      await pool.acquire(async (conn) => {
        await expect(
          conn.transaction((tx) => tx.query('insert into children values (3, 999)')),
        ).rejects.toMatchObject({ code: '23503' });
        // Outside any transaction: a statement runs on its own and leaves the session idle.
        await conn.query('select 1');
        expect(conn.client.getTransactionStatus()).toBe('I');
        await conn.transaction(async (tx) => {
          await tx.query('insert into parents values (3)');
          await tx.query('insert into children values (3, 3)');
        });
      });
      expect(await idsIn(db, 'children')).toEqual([3]);
    });

    it('the same deferred check passes when the row it needs arrives before COMMIT', async () => {
      await pool.transaction(async (tx) => {
        await tx.query('insert into children values (4, 40)');
        await tx.query('insert into parents values (40)');
      });
      expect(await idsIn(db, 'children')).toEqual([4]);
    });
  });

  describe('rule 4: a statement failed and the callback swallowed the error', () => {
    it('callback form rejects with TransactionRolledBackError whose cause is the first failed statement', async () => {
      await db.admin('insert into items values (1)');
      const before = pool.stats();
      let statementError: unknown;
      let laterError: unknown;
      const outcome = pool.transaction(async (tx) => {
        await tx.query('insert into items values (2)');
        await tx.query('insert into items values (1)').catch((err: unknown) => {
          statementError = err;
        });
        // The transaction is aborted now: a later statement fails too (25P02), also swallowed.
        await tx.query('insert into items values (3)').catch((err: unknown) => {
          laterError = err;
        });
        return 'resolved anyway';
      });
      const err = await outcome.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TransactionRolledBackError);
      expect(err).toMatchObject({ code: 'TX_ROLLED_BACK' });
      expect((err as Error).cause).toBe(statementError);
      expect(statementError).toBeInstanceOf(pg.DatabaseError);
      expect(statementError).toMatchObject({ code: '23505' });
      expect(laterError).toMatchObject({ code: '25P02' });
      expect(await idsIn(db, 'items')).toEqual([1]);
      const after = pool.stats();
      expect(after.commits - before.commits).toBe(0);
      expect(after.rollbacks - before.rollbacks).toBe(1);
      expect(after.borrowed).toBe(0);
    });

    it('await using form: tx.commit() rejects with TransactionRolledBackError', async () => {
      await db.admin('insert into items values (10)');
      let statementError: unknown;
      {
        await using tx = await pool.transaction();
        await tx.query('insert into items values (11)');
        await tx.query('insert into items values (10)').catch((err: unknown) => {
          statementError = err;
        });
        const err = await tx.commit().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(TransactionRolledBackError);
        expect((err as Error).cause).toBe(statementError);
        expect(statementError).toMatchObject({ code: '23505' });
      }
      expect(await idsIn(db, 'items')).toEqual([10]);
      expect(pool.stats().borrowed).toBe(0);
    });

    it('a failed statement swallowed inside a savepoint makes the savepoint, not the outer, fail', async () => {
      await db.admin('insert into items values (20)');
      let statementError: unknown;
      await pool.transaction(async (tx) => {
        await tx.query('insert into items values (21)');
        const err = await tx
          .transaction(async (sp) => {
            await sp.query('insert into items values (22)');
            await sp.query('insert into items values (20)').catch((e: unknown) => {
              statementError = e;
            });
          })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(err).toBeInstanceOf(TransactionRolledBackError);
        expect((err as Error).cause).toBe(statementError);
        await tx.query('insert into items values (23)');
      });
      expect(await idsIn(db, 'items')).toEqual([20, 21, 23]);
    });

    it('the connection is clean for the next transaction', async () => {
      const single = poolFor(db, { max: 1 });
      try {
        await db.admin('insert into items values (30)');
        await expect(
          single.transaction(async (tx) => {
            await tx.query('insert into items values (30)').catch(() => undefined);
          }),
        ).rejects.toBeInstanceOf(TransactionRolledBackError);
        await single.transaction((tx) => tx.query('insert into items values (31)'));
        expect(await idsIn(db, 'items')).toEqual([30, 31]);
        expect(single.stats().created).toBe(1);
      } finally {
        await single.close();
      }
    });
  });

  describe("when the server's ReadyForQuery arrives after its ErrorResponse", () => {
    // PostgreSQL flushes an ErrorResponse at once and its ReadyForQuery (which carries the transaction status)
    // after; pg rejects the statement on the first. A proxy holds the second back so this always happens.
    let proxy: TcpProxy;
    let slow: Pool;

    beforeAll(async () => {
      proxy = await startTcpProxy(db.config);
      proxy.pauseAfterErrorMillis = 30;
      slow = poolFor(db, { ...db.config, connectionString: undefined, port: proxy.port, max: 1 });
    });

    afterAll(async () => {
      await slow?.close();
      await proxy?.close();
    });

    it('a swallowed error inside a savepoint fails the savepoint and leaves the outer transaction usable', async () => {
      await db.admin('insert into items values (40)');
      let statementError: unknown;
      await slow.transaction(async (tx) => {
        await tx.query('insert into items values (41)');
        const err = await tx
          .transaction(async (sp) => {
            await sp.query('insert into items values (42)');
            await sp.query('insert into items values (40)').catch((e: unknown) => {
              statementError = e;
            });
          })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(err).toBeInstanceOf(TransactionRolledBackError);
        expect((err as Error).cause).toBe(statementError);
        expect(statementError).toMatchObject({ code: '23505' });
        await tx.query('insert into items values (43)');
      });
      expect(await idsIn(db, 'items')).toEqual([40, 41, 43]);
    });

    it('a swallowed error in the await using savepoint form: sp.commit() rejects with TransactionRolledBackError', async () => {
      await db.admin('insert into items values (50)');
      {
        await using tx = await slow.transaction();
        await tx.query('insert into items values (51)');
        {
          await using sp = await tx.transaction();
          await sp.query('insert into items values (50)').catch(() => undefined);
          await expect(sp.commit()).rejects.toBeInstanceOf(TransactionRolledBackError);
        }
        await tx.query('insert into items values (52)');
        await tx.commit();
      }
      expect(await idsIn(db, 'items')).toEqual([50, 51, 52]);
    });

    it('a refused COMMIT is not taken for a connection left inside a transaction: no warning, no extra ROLLBACK', async () => {
      const { logger, lines } = capturingLogger();
      const logged = poolFor(db, {
        ...db.config,
        connectionString: undefined,
        port: proxy.port,
        max: 1,
        logger,
      });
      try {
        let pid = 0;
        await expect(
          logged.transaction(async (tx) => {
            pid = await backendPid(tx);
            await tx.query('insert into children values (70, 999)');
          }),
        ).rejects.toMatchObject({ code: '23503' });
        expect(lines.filter((line) => line.level >= 40)).toEqual([]);
        const last = await db.admin('select query from pg_stat_activity where pid = $1', [pid]);
        expect(last.rows[0]).toEqual({ query: 'COMMIT' });
      } finally {
        await logged.close();
      }
    });

    it('a swallowed error at the top level: TransactionRolledBackError with the statement as cause', async () => {
      await db.admin('insert into items values (60)');
      let statementError: unknown;
      const err = await slow
        .transaction(async (tx) => {
          await tx.query('insert into items values (61)');
          await tx.query('insert into items values (60)').catch((e: unknown) => {
            statementError = e;
          });
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(TransactionRolledBackError);
      expect((err as Error).cause).toBe(statementError);
      expect(await idsIn(db, 'items')).toEqual([60]);
      expect(slow.stats().borrowed).toBe(0);
    });
  });
});
