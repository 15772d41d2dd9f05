import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { poolFor } from './support/tx-support.js';

/** `rowMode: 'array'`, as pg takes it: accepted by the types of every query method, and rows come as arrays. */
describe("query({ text, rowMode: 'array' })", () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = poolFor(db, { max: 2 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  const config = { text: 'select 1 as a, $1::text as b', values: ['x'], rowMode: 'array' as const };

  it('pool.query', async () => {
    const result = await pool.query<[number, string]>(config);
    expectTypeOf(result.rows).toEqualTypeOf<[number, string][]>();
    expect(result.rows).toEqual([[1, 'x']]);
    expect(result.fields.map((f) => f.name)).toEqual(['a', 'b']);
  });

  it('conn.query and tx.query, and pool.query inside a scope', async () => {
    await pool.acquire(async (conn) => {
      const result = await conn.query({ text: 'select 2, 3', rowMode: 'array' });
      expectTypeOf(result.rows).toEqualTypeOf<unknown[][]>();
      expect(result.rows).toEqual([[2, 3]]);
    });
    await pool.transaction(async (tx) => {
      expect((await tx.query({ text: 'select 4', rowMode: 'array' })).rows).toEqual([[4]]);
      expect((await pool.query({ text: 'select 5', rowMode: 'array' })).rows).toEqual([[5]]);
    });
    // Objects by default, as before.
    const plain = await pool.query<{ n: number }>('select 6 as n');
    expectTypeOf(plain.rows).toEqualTypeOf<{ n: number }[]>();
    expect(plain.rows).toEqual([{ n: 6 }]);
  });
});
