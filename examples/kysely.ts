/**
 * Kysely on pg-scope's bounded pool: `pool.pgPool()` is a pg.Pool-compatible view for `PostgresDialect`.
 * Kysely's queries use the pool's connections; inside `pool.transaction()` they join the transaction (and a
 * Kysely transaction there becomes a savepoint). Run it: `npm run example kysely`.
 */
import { Kysely, PostgresDialect } from 'kysely';
import { createPool, type Pool } from '../src/index.js'; // in your project: from 'pg-scope'

interface Database {
  people: { id: number; name: string };
}

export async function main(connectionString: string) {
  await using pool = createPool({ connectionString, max: 3 });
  // A schema of the example's own, dropped again at the end: nothing is left behind in your database.
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: pool.pgPool() }) }).withSchema(
    'kysely_example',
  );
  await pool.query(`
    drop schema if exists kysely_example cascade;
    create schema kysely_example;
    create table kysely_example.people (id int primary key, name text not null);
  `);
  try {
    return await useKysely(pool, db);
  } finally {
    await pool.query('drop schema kysely_example cascade');
  }
}

async function useKysely(pool: Pool, db: Kysely<Database>) {
  await db.insertInto('people').values({ id: 1, name: 'Ada' }).execute();

  // pg-scope owns the transaction; Kysely joins it and sees its uncommitted write.
  const seenInside = await pool
    .transaction(async (tx) => {
      await tx.query("insert into kysely_example.people values (2, 'Grace')");
      const rows = await db.selectFrom('people').select('name').orderBy('id').execute();
      throw Object.assign(new Error('changed my mind'), { rows });
    })
    .catch((error: { rows: { name: string }[] }) => error.rows.map((r) => r.name));

  const after = await db.selectFrom('people').select('name').orderBy('id').execute();
  console.log(
    `inside the transaction Kysely saw ${seenInside.join(', ')}; after rollback: ${after.map((r) => r.name).join(', ')}`,
  );
  return { seenInside, after: after.map((r) => r.name) };
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
