import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { idsIn, poolFor } from './support/tx-support.js';

describe('callback transaction: commit on resolve, rollback on throw', () => {
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

  it('commits when the callback resolves: the rows are visible from another connection', async () => {
    await pool.transaction(async (tx) => {
      await tx.query('insert into items values (1)');
      await tx.query('insert into items values ($1)', [2]);
      // Not yet committed: another session cannot see the rows.
      expect(await idsIn(db, 'items')).toEqual([]);
    });
    expect(await idsIn(db, 'items')).toEqual([1, 2]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it("resolves with the callback's value", async () => {
    const value = await pool.transaction(async (tx) => {
      const result = await tx.query<{ n: number }>('select 41 + 1 as n');
      return { answer: result.rows[0]?.n };
    });
    expect(value).toEqual({ answer: 42 });

    const sync = await pool.transaction(() => 'plain value');
    expect(sync).toBe('plain value');
  });

  it('rolls back when the callback throws and rejects with the same error object', async () => {
    const thrown = new Error('callback failed');
    let caught: unknown;
    try {
      await pool.transaction(async (tx) => {
        await tx.query('insert into items values (10)');
        throw thrown;
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBe(thrown);
    expect(await idsIn(db, 'items')).toEqual([]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('rethrows a non-Error value unchanged too', async () => {
    const thrown = { reason: 'not an Error' };
    await expect(
      pool.transaction(async (tx) => {
        await tx.query('insert into items values (11)');
        throw thrown;
      }),
    ).rejects.toBe(thrown);
    expect(await idsIn(db, 'items')).toEqual([]);
  });

  it("rejects with pg's own error when a statement fails and the callback lets it through", async () => {
    await db.admin('insert into items values (5)');
    let statementError: unknown;
    const outcome = pool.transaction(async (tx) => {
      await tx.query('insert into items values (6)');
      await tx.query('insert into items values (5)').catch((err: unknown) => {
        statementError = err;
        throw err;
      });
    });
    await expect(outcome).rejects.toMatchObject({ code: '23505' });
    await outcome.catch((err: unknown) => expect(err).toBe(statementError));
    expect(await idsIn(db, 'items')).toEqual([5]);
  });

  it('leaves the connection clean for the next transaction after a rollback', async () => {
    const small = poolFor(db, { max: 1 });
    try {
      await expect(
        small.transaction(async (tx) => {
          await tx.query('insert into items values (20)');
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      const status = await small.acquire(async (conn) => conn.client.getTransactionStatus());
      expect(status).toBe('I');
      await small.transaction((tx) => tx.query('insert into items values (21)'));
      expect(await idsIn(db, 'items')).toEqual([21]);
      expect(small.stats().created).toBe(1);
    } finally {
      await small.close();
    }
  });

  it('counts top-level commits and rollbacks in stats(), not savepoints', async () => {
    const before = pool.stats();
    await pool.transaction((tx) => tx.query('insert into items values (30)'));
    await pool.transaction(async (tx) => {
      await tx.query('insert into items values (31)');
      await tx.transaction((sp) => sp.query('insert into items values (32)'));
      await tx
        .transaction(async (sp) => {
          await sp.query('insert into items values (33)');
          throw new Error('savepoint rolled back');
        })
        .catch(() => undefined);
    });
    await pool
      .transaction(async (tx) => {
        await tx.query('insert into items values (34)');
        throw new Error('top-level rollback');
      })
      .catch(() => undefined);
    const after = pool.stats();
    expect(after.commits - before.commits).toBe(2);
    expect(after.rollbacks - before.rollbacks).toBe(1);
    expect(await idsIn(db, 'items')).toEqual([30, 31, 32]);
  });
});
