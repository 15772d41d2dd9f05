/**
 * Drizzle (node-postgres driver) on pg-scope's bounded pool through `pool.pgPool()`: its queries and
 * transactions use the pool's connections, and inside `pool.transaction()` they run in that transaction.
 * Run it: `npm run example drizzle`.
 */
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { createPool, type Pool } from '../src/index.js'; // in your project: from 'pg-scope'

// A schema of the example's own, dropped again at the end: nothing is left behind in your database.
const schema = pgSchema('drizzle_example');
const books = schema.table('books', { id: integer('id').primaryKey(), title: text('title').notNull() });

export async function main(connectionString: string) {
  await using pool = createPool({ connectionString, max: 3 });
  const orm = drizzle({ client: pool.pgPool() });
  await pool.query(`
    drop schema if exists drizzle_example cascade;
    create schema drizzle_example;
    create table drizzle_example.books (id int primary key, title text not null);
  `);
  try {
    return await useDrizzle(pool, orm);
  } finally {
    await pool.query('drop schema drizzle_example cascade');
  }
}

async function useDrizzle(pool: Pool, orm: ReturnType<typeof drizzle>) {
  await orm.insert(books).values({ id: 1, title: 'SICP' });
  // A Drizzle transaction on its own connection of the pool.
  await orm.transaction(async (trx) => {
    await trx.insert(books).values({ id: 2, title: 'TAOCP' });
  });
  // Drizzle inside a pg-scope transaction: committed or rolled back with it.
  await pool.transaction(async () => {
    await orm.update(books).set({ title: 'SICP, 2nd ed.' }).where(eq(books.id, 1));
  });
  const titles = (await orm.select().from(books).orderBy(books.id)).map((b) => b.title);
  console.log(`books: ${titles.join(' | ')}; borrowed now: ${pool.stats().borrowed}`);
  return { titles, borrowed: pool.stats().borrowed };
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
