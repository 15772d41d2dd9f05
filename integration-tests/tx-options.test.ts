import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, type IsolationLevel, type Pool, type Transaction } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { idsIn, poolFor } from './support/tx-support.js';

/** What the server says about the transaction `tx` runs in. */
async function transactionSettings(tx: Transaction) {
  const result = await tx.query<{ isolation: string; readOnly: string; deferrable: string }>(
    `select current_setting('transaction_isolation') as isolation,
            current_setting('transaction_read_only') as "readOnly",
            current_setting('transaction_deferrable') as deferrable`,
  );
  return result.rows[0];
}

describe('transaction options reach the server', () => {
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

  it('defaults to read committed, read write', async () => {
    const seen = await pool.transaction((tx) => transactionSettings(tx));
    expect(seen).toEqual({ isolation: 'read committed', readOnly: 'off', deferrable: 'off' });
  });

  it.each<IsolationLevel>(['read committed', 'repeatable read', 'serializable'])(
    'SHOW transaction_isolation is %s inside the scope',
    async (isolation) => {
      const callback = await pool.transaction(
        async (tx) => {
          const result = await tx.query<{ transaction_isolation: string }>('SHOW transaction_isolation');
          return result.rows[0]?.transaction_isolation;
        },
        { isolation },
      );
      expect(callback).toBe(isolation);

      await using tx = await pool.transaction({ isolation });
      const result = await tx.query<{ transaction_isolation: string }>('SHOW transaction_isolation');
      expect(result.rows[0]?.transaction_isolation).toBe(isolation);
    },
  );

  it('the isolation level holds for the first statement too (BEGIN is sent before it)', async () => {
    // A repeatable-read snapshot taken by the first statement must not see a row committed after it.
    await db.admin('truncate items');
    await pool.transaction(
      async (tx) => {
        const first = await tx.query<{ n: number }>('select count(*)::int as n from items');
        await db.admin('insert into items values (1)');
        const second = await tx.query<{ n: number }>('select count(*)::int as n from items');
        expect(first.rows[0]?.n).toBe(0);
        expect(second.rows[0]?.n).toBe(0);
      },
      { isolation: 'repeatable read' },
    );
    await pool.transaction(async (tx) => {
      const first = await tx.query<{ n: number }>('select count(*)::int as n from items');
      await db.admin('insert into items values (2)');
      const second = await tx.query<{ n: number }>('select count(*)::int as n from items');
      // Read committed: each statement sees what was committed before it.
      expect(second.rows[0]?.n).toBe((first.rows[0]?.n ?? 0) + 1);
    });
  });

  it("readOnly: a write fails with SQLSTATE 25006, pg's own error", async () => {
    let writeError: unknown;
    const outcome = pool.transaction(
      async (tx) => {
        expect(await transactionSettings(tx)).toMatchObject({ readOnly: 'on' });
        await tx.query('insert into items values (100)').catch((err: unknown) => {
          writeError = err;
          throw err;
        });
      },
      { readOnly: true },
    );
    await expect(outcome).rejects.toBeInstanceOf(pg.DatabaseError);
    await expect(outcome).rejects.toMatchObject({ code: '25006' });
    await outcome.catch((err: unknown) => expect(err).toBe(writeError));
    expect(await idsIn(db, 'items')).not.toContain(100);

    await using tx = await pool.transaction({ readOnly: true });
    await expect(tx.query('insert into items values (101)')).rejects.toMatchObject({ code: '25006' });
  });

  it('deferrable works with serializable + readOnly', async () => {
    const seen = await pool.transaction((tx) => transactionSettings(tx), {
      isolation: 'serializable',
      readOnly: true,
      deferrable: true,
    });
    expect(seen).toEqual({ isolation: 'serializable', readOnly: 'on', deferrable: 'on' });
  });

  it('conn.transaction() takes the same options', async () => {
    await pool.acquire(async (conn) => {
      const seen = await conn.transaction((tx) => transactionSettings(tx), {
        isolation: 'repeatable read',
        readOnly: true,
      });
      expect(seen).toEqual({ isolation: 'repeatable read', readOnly: 'on', deferrable: 'off' });
      await using tx = await conn.transaction({ isolation: 'serializable' });
      expect(await transactionSettings(tx)).toMatchObject({ isolation: 'serializable', readOnly: 'off' });
    });
  });

  it('the next transaction on the same connection gets the defaults back', async () => {
    const single = poolFor(db, { max: 1 });
    try {
      await single.transaction((tx) => tx.query('select 1'), { isolation: 'serializable', readOnly: true });
      const seen = await single.transaction((tx) => transactionSettings(tx));
      expect(seen).toEqual({ isolation: 'read committed', readOnly: 'off', deferrable: 'off' });
      expect(single.stats().created).toBe(1);
    } finally {
      await single.close();
    }
  });

  it('bad options reject with ConfigError before a connection is taken', async () => {
    const before = pool.stats();
    let ran = false;
    const outcome = pool.transaction(
      async () => {
        ran = true;
      },
      { isolation: 'snapshot' as IsolationLevel },
    );
    await expect(outcome).rejects.toBeInstanceOf(ConfigError);
    await expect(outcome).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'isolation' });
    await expect(pool.transaction({ deferrable: true })).rejects.toMatchObject({ field: 'deferrable' });
    await pool.acquire(async (conn) => {
      await expect(conn.transaction({ timeoutMillis: 0 })).rejects.toMatchObject({ field: 'timeoutMillis' });
    });
    expect(ran).toBe(false);
    expect(pool.stats().acquired - before.acquired).toBe(1);
  });
});
