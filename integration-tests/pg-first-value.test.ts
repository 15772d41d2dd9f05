import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setPipelined } from '../src/pool/pg-client-internals.js';
import { queryFirstValue } from '../src/pool/pg-queries.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';

/** `queryFirstValue` as a promise, for the assertions. */
function firstValue(client: pg.Client, text: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    queryFirstValue(client, text, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

/**
 * `queryFirstValue` (how a transaction learns its id) subclasses pg's Query and replaces its row handlers:
 * this fails if a pg upgrade stops calling them, or refuses the query in pipeline mode.
 */
describe('queryFirstValue: one value without pg’s Result', () => {
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client(db.config);
    await client.connect();
  });

  afterAll(async () => {
    await client.end();
    await db.drop();
  });

  it('the first column of the first row as text; NULL and no row as null', async () => {
    expect(await firstValue(client, 'select 42 as v, 7 as w')).toBe('42');
    expect(await firstValue(client, 'select v from generate_series(3, 5) v')).toBe('3');
    expect(await firstValue(client, 'select null::text as v')).toBeNull();
    expect(await firstValue(client, 'select 1 where false')).toBeNull();
  });

  it('an error reaches the callback, and the connection stays usable', async () => {
    await expect(firstValue(client, 'select nope')).rejects.toMatchObject({ code: '42703' });
    expect(await firstValue(client, 'select 1')).toBe('1');
  });

  it('in pipeline mode, in front of another statement, inside a transaction', async () => {
    await client.query('begin');
    await client.query('create temp table t (v int) on commit drop');
    await client.query('insert into t values (1)');
    setPipelined(client, true);
    const xid = firstValue(client, 'select pg_current_xact_id_if_assigned()::text as xid');
    const next = client.query('select count(*)::int as n from t');
    const [id, result] = await Promise.all([xid, next]);
    setPipelined(client, false);
    await client.query('commit');
    expect(id).toMatch(/^\d+$/);
    expect(result.rows[0]?.n).toBe(1);
  });

  it('under query_timeout, the answer still settles the callback once', async () => {
    const timed = new pg.Client({ ...db.config, query_timeout: 5_000 });
    await timed.connect();
    try {
      expect(await firstValue(timed, 'select 9')).toBe('9');
    } finally {
      await timed.end();
    }
  });
});
