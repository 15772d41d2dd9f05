import Cursor from 'pg-cursor';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPool, type Pool, UnsupportedStatementError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';

interface ViewClient {
  query(text: string, values?: unknown[]): Promise<{ command: string; rows: Record<string, unknown>[] }>;
  query<T>(submittable: T): T;
  release(err?: Error | boolean): void;
}

describe('pool.pgPool(): transaction control inside a pg-scope transaction', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table t (id int primary key)');
    pool = createPool({ ...db.config, max: 3 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate t');
  });

  const count = async () => (await db.admin('select count(*)::int as n from t')).rows[0]?.n as number;
  const connect = () => pool.pgPool().connect() as unknown as Promise<ViewClient>;

  it('a multi-statement "BEGIN; INSERT …" is refused with nothing sent, never answered BEGIN with nothing done', async () => {
    let refused: unknown;
    await pool.transaction(async () => {
      const client = await connect();
      try {
        await client.query('BEGIN; INSERT INTO t VALUES (1)');
      } catch (err) {
        refused = err;
      } finally {
        client.release();
      }
      // Nothing was sent, so the enclosing transaction is still usable.
      await pool.query('insert into t values (2)');
    });
    expect(refused).toBeInstanceOf(UnsupportedStatementError);
    expect((refused as UnsupportedStatementError).code).toBe('UNSUPPORTED_STATEMENT');
    expect((refused as Error).message).toContain('BEGIN');
    expect((await db.admin('select id from t order by id')).rows).toEqual([{ id: 2 }]);
  });

  it('refuses other transaction control: options on BEGIN, COMMIT with text after it, a stray COMMIT/ROLLBACK', async () => {
    const refusedTexts: string[] = [];
    await pool.transaction(async (tx) => {
      const client = await connect();
      for (const text of [
        '/* tool */ BEGIN; INSERT INTO t VALUES (3)',
        'begin isolation level serializable',
        'START TRANSACTION READ ONLY',
        'COMMIT', // no BEGIN of its own: would commit the enclosing transaction
        'ROLLBACK',
        'end',
        'insert into t values (6); COMMIT', // would commit the enclosing transaction half-way
      ]) {
        await client.query(text).then(
          () => {},
          (err: unknown) => {
            if (err instanceof UnsupportedStatementError) refusedTexts.push(text);
          },
        );
      }
      await client.query('BEGIN');
      await client.query('commit; insert into t values (4)').catch(() => {});
      await client.query('ROLLBACK');
      client.release();
      await tx.query('insert into t values (5)');
    });
    expect(refusedTexts).toHaveLength(7);
    expect((await db.admin('select id from t order by id')).rows).toEqual([{ id: 5 }]);
  });

  it('bare forms (case, whitespace, semicolon, WORK, START TRANSACTION, END, ABORT) become a savepoint', async () => {
    await pool.transaction(async () => {
      const client = await connect();
      expect((await client.query('  begin work ;\n')).command).toBe('BEGIN');
      await client.query('insert into t values (10)');
      expect((await client.query('END')).command).toBe('COMMIT');
      await client.query('Start Transaction');
      await client.query('insert into t values (11)');
      expect((await client.query('abort;')).command).toBe('ROLLBACK');
      // The tool's own savepoints pass through, ROLLBACK TO included.
      await client.query('BEGIN');
      await client.query('savepoint mine');
      await client.query('insert into t values (12)');
      await client.query('rollback to savepoint mine');
      await client.query('commit');
      client.release();
    });
    expect((await db.admin('select id from t order by id')).rows).toEqual([{ id: 10 }]);
  });

  it('connect() while the transaction’s first statements are still in flight', async () => {
    await pool.transaction(async (tx) => {
      const pending = tx.query('insert into t values (30)');
      const client = await connect();
      const pid = (client as unknown as { processID: number }).processID;
      await client.query('insert into t values (31)');
      await pending;
      expect((await tx.query('select pg_backend_pid() as pid')).rows[0]?.pid).toBe(pid);
      client.release();
    });
    expect(await count()).toBe(2);
  });

  it('outside a transaction "BEGIN; INSERT …" runs as written (both statements)', async () => {
    const client = await connect();
    await client.query('BEGIN; INSERT INTO t VALUES (20)');
    await client.query('COMMIT');
    client.release();
    expect(await count()).toBe(1);
  });
});

describe('pool.pgPool(): a pg-cursor read through connect()', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table c (id int primary key)');
    await db.admin('insert into c select generate_series(1, 25)');
    pool = createPool({ ...db.config, max: 2 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  const readAll = async (client: ViewClient, text: string) => {
    const cursor = client.query(new Cursor<{ id: number }>(text));
    const ids: number[] = [];
    for (let batch = await cursor.read(10); batch.length > 0; batch = await cursor.read(10)) {
      ids.push(...batch.map((r) => r.id));
    }
    await cursor.close();
    return ids;
  };

  it('outside a transaction', async () => {
    const client = (await pool.pgPool().connect()) as unknown as ViewClient;
    const ids = await readAll(client, 'select id from c order by id');
    client.release();
    expect(ids).toHaveLength(25);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('inside pool.transaction(): runs in the transaction (sees its uncommitted row), on its connection', async () => {
    const seen = await pool
      .transaction(async (tx) => {
        await tx.query('insert into c values (100)');
        const client = (await pool.pgPool().connect()) as unknown as ViewClient;
        const ids = await readAll(client, 'select id from c order by id');
        const pids = await readAll(client, 'select pg_backend_pid() as id');
        const txPid = (await tx.query('select pg_backend_pid() as pid')).rows[0]?.pid;
        client.release();
        expect(pids).toEqual([txPid]);
        throw Object.assign(new Error('undo'), { ids });
      })
      .catch((err: { ids: number[] }) => err.ids);
    expect(seen).toHaveLength(26);
    expect(seen).toContain(100);
    expect((await db.admin('select count(*)::int as n from c')).rows[0]?.n).toBe(25);
  });

  it('inside a savepoint the view opened (BEGIN through the view)', async () => {
    await pool.transaction(async () => {
      const client = (await pool.pgPool().connect()) as unknown as ViewClient;
      await client.query('BEGIN');
      await client.query('insert into c values (200)');
      const ids = await readAll(client, 'select id from c where id = 200');
      await client.query('ROLLBACK');
      client.release();
      expect(ids).toEqual([200]);
    });
    expect((await db.admin('select count(*)::int as n from c')).rows[0]?.n).toBe(25);
  });
});
