import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Transfer } from '../sql.js';
import { type BenchClient, holdTwo, IDLE_MILLIS, type Library, type OpenConfig } from './types.js';

// Kysely's `sql` template compiles to `sql.ts`'s texts exactly ($1, $2, … with bound values).

// biome-ignore lint/suspicious/noExplicitAny: the benchmark uses raw SQL only, so there is no table typing to give.
type Db = Kysely<any>;

function connect(poolConfig: pg.PoolConfig): Db {
  const pool = new pg.Pool(poolConfig);
  pool.on('error', () => {
    // An idle client's error; pg.Pool removes the client itself.
  });
  return new Kysely({ dialect: new PostgresDialect({ pool }) });
}

/** Kysely over a `pg.Pool` (PostgresDialect), `db.transaction().execute` with the `sql` template. */
export const kysely: Library = {
  id: 'kysely',
  name: 'Kysely',
  usage: 'PostgresDialect over `pg.Pool`, `db.transaction().execute(trx => …)` with the `sql` template',
  async open(config: OpenConfig): Promise<BenchClient> {
    const db = connect({ connectionString: config.url, max: config.max, idleTimeoutMillis: IDLE_MILLIS });
    return {
      async select1() {
        await sql`SELECT 1`.execute(db);
      },
      async transfer(t: Transfer) {
        await db.transaction().execute(async (trx) => {
          await sql`UPDATE bench_accounts SET balance = balance + ${t.firstDelta} WHERE id = ${t.firstId}`.execute(
            trx,
          );
          await sql`UPDATE bench_accounts SET balance = balance + ${t.secondDelta} WHERE id = ${t.secondId}`.execute(
            trx,
          );
          await sql`INSERT INTO bench_ledger (from_id, to_id, amount) VALUES (${t.from}, ${t.to}, ${t.amount})`.execute(
            trx,
          );
        });
      },
      close: () => db.destroy(),
    };
  },
  async exhaust(url, acquireTimeoutMillis) {
    const db = connect({ connectionString: url, max: 2, connectionTimeoutMillis: acquireTimeoutMillis });
    const held = await holdTwo((acquired, release) =>
      db.connection().execute(async () => {
        acquired();
        await release;
      }),
    );
    return {
      async attempt() {
        await sql`SELECT 1`.execute(db);
      },
      async close() {
        await held.release();
        await db.destroy();
      },
    };
  },
};
