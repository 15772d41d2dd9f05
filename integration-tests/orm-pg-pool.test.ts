import { sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase } from './setup/db.js';

interface Db {
  notes: { id: number; body: string };
}

const notes = pgTable('notes', { id: integer('id').primaryKey(), body: text('body').notNull() });

describe('pool.pgPool(): Kysely and Drizzle on the bounded pool', () => {
  let db: TestDatabase;
  let pool: Pool;
  let kysely: Kysely<Db>;
  const app = 'orm-view';

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table notes (id int primary key, body text not null)');
    pool = createPool({ ...db.config, application_name: app, max: 3 });
    kysely = new Kysely<Db>({ dialect: new PostgresDialect({ pool: pool.pgPool() }) });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate notes');
  });

  const ids = async () =>
    (await db.admin('select id from notes order by id')).rows.map((r) => r.id as number);

  it('Kysely runs a query and a transaction on the view; connections go back to the pool', async () => {
    await kysely.insertInto('notes').values({ id: 1, body: 'one' }).execute();
    await kysely.transaction().execute(async (trx) => {
      await trx.insertInto('notes').values({ id: 2, body: 'two' }).execute();
    });
    await kysely
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('notes').values({ id: 3, body: 'three' }).execute();
        throw new Error('undo');
      })
      .catch(() => {});
    expect(await ids()).toEqual([1, 2]);
    expect(pool.stats().borrowed).toBe(0);
    expect(await countConnections(db.name, app)).toBeLessThanOrEqual(3);
  });

  it('a Kysely query inside pool.transaction() sees the transaction’s uncommitted write, and rolls back with it', async () => {
    await pool
      .transaction(async (tx) => {
        await tx.query("insert into notes values (10, 'from pg-scope')");
        const seen = await kysely.selectFrom('notes').select(['id']).execute();
        expect(seen.map((r) => r.id)).toEqual([10]);
        expect(pool.stats().borrowed).toBe(1);
        throw new Error('roll everything back');
      })
      .catch(() => {});
    expect(await ids()).toEqual([]);
  });

  it('a Kysely transaction inside pool.transaction() becomes a savepoint: its rollback keeps the outer work', async () => {
    await pool.transaction(async (tx) => {
      await tx.query("insert into notes values (20, 'outer')");
      await kysely
        .transaction()
        .execute(async (trx) => {
          await trx.insertInto('notes').values({ id: 21, body: 'inner' }).execute();
          throw new Error('undo inner');
        })
        .catch(() => {});
      await kysely.transaction().execute(async (trx) => {
        await trx.insertInto('notes').values({ id: 22, body: 'inner kept' }).execute();
      });
      const raw = await sql<{ n: number }>`select count(*)::int as n from notes`.execute(kysely);
      expect(raw.rows[0]?.n).toBe(2);
    });
    expect(await ids()).toEqual([20, 22]);
  });

  it('Drizzle runs a query and a transaction on the view', async () => {
    const orm = drizzle({ client: pool.pgPool() });
    await orm.insert(notes).values({ id: 30, body: 'drizzle' });
    await orm.transaction(async (trx) => {
      await trx.insert(notes).values({ id: 31, body: 'drizzle tx' });
    });
    await orm
      .transaction(async (trx) => {
        await trx.insert(notes).values({ id: 32, body: 'undone' });
        throw new Error('undo');
      })
      .catch(() => {});
    const rows = await orm.select().from(notes).orderBy(notes.id);
    expect(rows.map((r) => r.id)).toEqual([30, 31]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('a Drizzle query inside pool.transaction() runs in it', async () => {
    const orm = drizzle({ client: pool.pgPool() });
    await pool.transaction(async (tx) => {
      await tx.query("insert into notes values (40, 'x')");
      const seen = await orm.execute(dsql`select count(*)::int as n from notes`);
      expect((seen.rows[0] as { n: number }).n).toBe(1);
      const pidOrm = await orm.execute(dsql`select pg_backend_pid() as pid`);
      const pidTx = await tx.query('select pg_backend_pid() as pid');
      expect((pidOrm.rows[0] as { pid: number }).pid).toBe(pidTx.rows[0]?.pid);
    });
    expect(await ids()).toEqual([40]);
  });

  it('the callback style of pg.Pool#query works (session stores use it)', async () => {
    const view = pool.pgPool();
    const result = await new Promise<{ rows: { one: number }[] }>((resolve, reject) => {
      (
        view.query as unknown as (t: string, v: unknown[], cb: (e: Error | null, r?: unknown) => void) => void
      )('select $1::int as one', [1], (err, res) =>
        err ? reject(err) : resolve(res as { rows: { one: number }[] }),
      );
    });
    expect(result.rows[0]?.one).toBe(1);
  });
});
