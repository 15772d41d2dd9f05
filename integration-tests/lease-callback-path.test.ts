import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { poolFor } from './support/tx-support.js';

/** A value pg cannot serialise: it throws while writing the statement, after its Parse went out. */
function unserialisable(): unknown {
  return { n: 1n };
}

/**
 * Statements go to pg in its callback form; a pipelined BEGIN and the transaction-id statement go with no
 * promise at all. These are the edges of that path: a statement pg fails at once (its parameters cannot be
 * serialised) right behind a pipelined BEGIN or an id statement, a synchronous throw, and a caller's wrapper of
 * `client.query` that returns a promise. Each time, every answer reaches its own query and nothing stays
 * counted as in flight (the connection is reused, not destroyed).
 */
describe('the lease’s callback path', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
    pool = poolFor(db, { max: 1 });
    await pool.query('select 1');
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  it('a statement failing at once behind the pipelined BEGIN: the next statement gets its own rows', async () => {
    const before = pool.stats();
    const rows = await pool
      .transaction(async (tx) => {
        const err = await tx.query('select $1::text as v', [unserialisable()]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TypeError);
        return (await tx.query('select 42 as n').catch((e: unknown) => ({ rows: [e] }))).rows;
      })
      .catch((e: unknown) => e);
    // Either the statement's own rows, or the transaction's refusal: never another statement's (empty) answer.
    if (Array.isArray(rows)) expect(rows).toEqual([{ n: 42 }]);
    expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: before.destroyed });
    expect((await pool.query('select 7 as n')).rows).toEqual([{ n: 7 }]);
  });

  it('a statement failing at once behind the early transaction-id statement: the same', async () => {
    const before = pool.stats();
    const outcome = await pool
      .transaction(async (tx) => {
        await tx.query('insert into items values (1)');
        const err = await tx.query('select $1::text as v', [unserialisable()]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TypeError);
        return (await tx.query('select 43 as n')).rows;
      })
      .catch((e: unknown) => e);
    if (Array.isArray(outcome)) expect(outcome).toEqual([{ n: 43 }]);
    expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: before.destroyed });
    expect((await pool.query('select 8 as n')).rows).toEqual([{ n: 8 }]);
  });

  it('pg throwing synchronously (no statement) rejects the call and leaves nothing in flight', async () => {
    const before = pool.stats();
    await pool.acquire(async (conn) => {
      await expect(conn.query(null as unknown as string)).rejects.toBeInstanceOf(TypeError);
      expect((await conn.query('select 9 as n')).rows).toEqual([{ n: 9 }]);
    });
    expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: before.destroyed });
  });

  it('a caller’s async wrapper of client.query that forwards the callback: the answer still arrives', async () => {
    const before = pool.stats();
    await pool.acquire(async (conn) => {
      const client = conn.client as unknown as { query: (...args: unknown[]) => unknown };
      const original = client.query;
      client.query = async (...args: unknown[]) => original.apply(client, args);
      try {
        expect((await conn.query('select 10 as n')).rows).toEqual([{ n: 10 }]);
        expect((await conn.query('select $1::int as n', [11])).rows).toEqual([{ n: 11 }]);
      } finally {
        client.query = original;
      }
    });
    expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: before.destroyed });
  });
});
