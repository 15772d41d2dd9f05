import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Connection, createPool, type Pool, Transaction, TransactionRolledBackError } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase } from './setup/db.js';

describe('ambient scope: pool.current(), pool.query() and propagation', () => {
  let db: TestDatabase;
  let pool: Pool;
  const app = 'ambient-scope';

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
    pool = createPool({ ...db.config, application_name: app, max: 2, nestedAcquire: 'error' });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate items');
  });

  const ids = async () =>
    (await db.admin('select id from items order by id')).rows.map((r) => r.id as number);

  it('pool.current() is the transaction inside a transaction scope, the connection inside an acquire scope', async () => {
    expect(pool.current()).toBeUndefined();
    await pool.transaction(async (tx) => {
      expect(pool.current()).toBe(tx);
      expect(pool.current()).toBeInstanceOf(Transaction);
      await tx.transaction(async (sp) => {
        expect(pool.current()).toBe(sp);
      });
      expect(pool.current()).toBe(tx);
    });
    await pool.acquire(async (conn) => {
      expect(pool.current()).toBe(conn);
      expect(pool.current()).toBeInstanceOf(Connection);
    });
    expect(pool.current()).toBeUndefined();
  });

  it('pool.query() inside a transaction scope runs in that transaction (same backend, uncommitted write visible)', async () => {
    await pool.transaction(async (tx) => {
      await tx.query('insert into items values (1)');
      const seen = await pool.query('select count(*)::int as n, pg_backend_pid() as pid from items');
      const own = await tx.query('select pg_backend_pid() as pid');
      expect(seen.rows[0]?.n).toBe(1);
      expect(seen.rows[0]?.pid).toBe(own.rows[0]?.pid);
      // Not committed yet: another connection does not see it.
      expect(await ids()).toEqual([]);
    });
    expect(await ids()).toEqual([1]);
  });

  it("'required' (default) joins: a nested pool.transaction() commits with the outer and takes no second connection", async () => {
    await pool.transaction(async () => {
      await pool.transaction(async (inner) => {
        await inner.query('insert into items values (2)');
        expect(pool.stats().borrowed).toBe(1);
      });
      expect(await ids()).toEqual([]);
    });
    expect(await ids()).toEqual([2]);
  });

  it("'required': a failed joined scope makes the outer transaction roll back even if the error was caught", async () => {
    const boom = new Error('inner failed');
    const outer = pool.transaction(async (tx) => {
      await tx.query('insert into items values (3)');
      await pool
        .transaction(async () => {
          throw boom;
        })
        .catch(() => {});
    });
    const err = await outer.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransactionRolledBackError);
    expect((err as TransactionRolledBackError).cause).toBe(boom);
    expect(await ids()).toEqual([]);
  });

  it("'nested' opens a savepoint: the inner failure is undone, the outer commits", async () => {
    await pool.transaction(async (tx) => {
      await tx.query('insert into items values (4)');
      await pool
        .transaction(
          async (sp) => {
            await sp.query('insert into items values (5)');
            throw new Error('undo the savepoint');
          },
          { propagation: 'nested' },
        )
        .catch(() => {});
    });
    expect(await ids()).toEqual([4]);
  });

  it("'requiresNew' runs on a second connection and commits on its own, even when the outer rolls back", async () => {
    await pool
      .transaction(async (tx) => {
        await tx.query('insert into items values (6)');
        await pool.transaction(
          async (other) => {
            await other.query('insert into items values (7)');
            expect(pool.stats().borrowed).toBe(2);
            expect(await countConnections(db.name, app)).toBe(2);
          },
          { propagation: 'requiresNew' },
        );
        throw new Error('outer rolls back');
      })
      .catch(() => {});
    expect(await ids()).toEqual([7]);
  });

  it('an acquire scope: a nested pool.transaction() runs on the same connection instead of acquiring (no NestedAcquireError)', async () => {
    await pool.acquire(async (conn) => {
      const pid = (await conn.query('select pg_backend_pid() as pid')).rows[0]?.pid;
      await pool.transaction(async (tx) => {
        expect((await tx.query('select pg_backend_pid() as pid')).rows[0]?.pid).toBe(pid);
        await tx.query('insert into items values (8)');
      });
      expect(pool.stats().borrowed).toBe(1);
    });
    expect(await ids()).toEqual([8]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('rejects an unknown propagation before anything is sent', async () => {
    await expect(
      pool.transaction(async () => {}, { propagation: 'mandatory' as never }),
    ).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'propagation' });
  });

  it('work started outside the scope does not see it', async () => {
    let seenByTimer: unknown = 'not run';
    const timerDone = new Promise<void>((resolve) => {
      // Created before the scope: its callback runs in this test's context, not the scope's.
      setTimeout(() => {
        seenByTimer = pool.current();
        resolve();
      }, 30);
    });
    await pool.transaction(async () => {
      await timerDone;
    });
    expect(seenByTimer).toBeUndefined();
  });
});
