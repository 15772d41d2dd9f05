import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Pool, ScopeClosedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { idsIn, poolFor } from './support/tx-support.js';

describe('nested transactions are savepoints', () => {
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

  it('an inner failure rolls back to the savepoint and the outer transaction commits', async () => {
    const inner = new Error('inner failed');
    await pool.transaction(async (tx) => {
      await tx.query('insert into items values (1)');
      let caught: unknown;
      try {
        await tx.transaction(async (sp) => {
          await sp.query('insert into items values (2)');
          await sp.query('insert into items values (3)');
          throw inner;
        });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBe(inner);
      // The outer transaction is still usable.
      await tx.query('insert into items values (4)');
    });
    expect(await idsIn(db, 'items')).toEqual([1, 4]);
  });

  it("an inner statement error rolls back to the savepoint, rejects with pg's error, and the outer commits", async () => {
    await db.admin('insert into items values (100)');
    await pool.transaction(async (tx) => {
      await tx.query('insert into items values (1)');
      await expect(
        tx.transaction(async (sp) => {
          await sp.query('insert into items values (2)');
          await sp.query('insert into items values (100)');
        }),
      ).rejects.toMatchObject({ code: '23505' });
      await tx.query('insert into items values (3)');
    });
    expect(await idsIn(db, 'items')).toEqual([1, 3, 100]);
  });

  it('a released savepoint commits with the outer transaction and resolves with its value', async () => {
    const value = await pool.transaction(async (tx) => {
      await tx.query('insert into items values (1)');
      const inner = await tx.transaction(async (sp) => {
        await sp.query('insert into items values (2)');
        return 'inner value';
      });
      expect(await idsIn(db, 'items')).toEqual([]);
      return inner;
    });
    expect(value).toBe('inner value');
    expect(await idsIn(db, 'items')).toEqual([1, 2]);
  });

  it("the outer rollback discards the inner savepoint's released work", async () => {
    const outer = new Error('outer failed');
    await expect(
      pool.transaction(async (tx) => {
        await tx.query('insert into items values (1)');
        await tx.transaction((sp) => sp.query('insert into items values (2)'));
        throw outer;
      }),
    ).rejects.toBe(outer);
    expect(await idsIn(db, 'items')).toEqual([]);
  });

  it('await using savepoint: without commit it rolls back to the savepoint only', async () => {
    await pool.transaction(async (tx) => {
      await tx.query('insert into items values (1)');
      {
        await using sp = await tx.transaction();
        await sp.query('insert into items values (2)');
      }
      await tx.query('insert into items values (3)');
    });
    expect(await idsIn(db, 'items')).toEqual([1, 3]);
  });

  it('await using savepoint: commit releases it, and it commits with the outer', async () => {
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (1)');
      {
        await using sp = await tx.transaction();
        await sp.query('insert into items values (2)');
        await sp.commit();
        expect(sp.state).toBe('committed');
        await expect(sp.query('select 1')).rejects.toBeInstanceOf(ScopeClosedError);
      }
      {
        await using sp = await tx.transaction();
        await sp.query('insert into items values (3)');
        await sp.rollback();
        expect(sp.state).toBe('rolledBack');
      }
      await tx.commit();
    }
    expect(await idsIn(db, 'items')).toEqual([1, 2]);
  });

  it('await using savepoint inside an await using transaction that is not committed: all rolled back', async () => {
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (1)');
      await using sp = await tx.transaction();
      await sp.query('insert into items values (2)');
      await sp.commit();
    }
    expect(await idsIn(db, 'items')).toEqual([]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('nests three deep: each level keeps or loses exactly its own work', async () => {
    await pool.transaction(async (tx) => {
      await tx.query('insert into items values (1)');
      await tx.transaction(async (level1) => {
        await level1.query('insert into items values (2)');
        await level1.transaction(async (level2) => {
          await level2.query('insert into items values (3)');
          await level2
            .transaction(async (level3) => {
              await level3.query('insert into items values (4)');
              throw new Error('level 3 fails');
            })
            .catch(() => undefined);
          await level2.transaction((level3) => level3.query('insert into items values (5)'));
        });
        await level1
          .transaction(async (level2) => {
            await level2.query('insert into items values (6)');
            await level2.transaction((level3) => level3.query('insert into items values (7)'));
            throw new Error('level 2 fails after level 3 released');
          })
          .catch(() => undefined);
        await level1.query('insert into items values (8)');
      });
    });
    expect(await idsIn(db, 'items')).toEqual([1, 2, 3, 5, 8]);
  });

  it('nests three deep in the await using form', async () => {
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (1)');
      {
        await using level1 = await tx.transaction();
        await level1.query('insert into items values (2)');
        {
          await using level2 = await level1.transaction();
          await level2.query('insert into items values (3)');
          {
            await using level3 = await level2.transaction();
            await level3.query('insert into items values (4)');
            // Not committed: rolled back to level 3's savepoint.
          }
          await level2.commit();
        }
        await level1.commit();
      }
      await tx.commit();
    }
    expect(await idsIn(db, 'items')).toEqual([1, 2, 3]);
  });

  it('a savepoint of an ended transaction rejects with ScopeClosedError', async () => {
    let escaped: Awaited<ReturnType<Pool['transaction']>> | undefined;
    await pool.transaction(async (tx) => {
      escaped = tx;
    });
    await expect(escaped?.transaction(async () => undefined)).rejects.toBeInstanceOf(ScopeClosedError);
  });

  it('a savepoint handle kept past the end of its transaction rejects with ScopeClosedError', async () => {
    let kept: Awaited<ReturnType<Pool['transaction']>> | undefined;
    await expect(
      pool.transaction(async (tx) => {
        await tx.query('insert into items values (1)');
        kept = await tx.transaction();
        await kept.query('insert into items values (2)');
        throw new Error('outer rolls back');
      }),
    ).rejects.toThrow('outer rolls back');
    await expect(kept?.query('insert into items values (3)')).rejects.toBeInstanceOf(ScopeClosedError);
    await expect(kept?.commit()).rejects.toMatchObject({ code: 'SCOPE_CLOSED' });
    expect(await idsIn(db, 'items')).toEqual([]);
    expect(pool.stats().borrowed).toBe(0);
  });
});
