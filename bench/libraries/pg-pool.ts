import pg from 'pg';
import { INSERT_LEDGER, SELECT_ONE, type Transfer, UPDATE_BALANCE } from '../sql.js';
import { type BenchClient, holdTwo, IDLE_MILLIS, type Library, type OpenConfig } from './types.js';

/** One transfer on a `pg.Pool`, written the way the node-postgres docs show it. */
export async function transferOnPool(pool: pg.Pool, t: Transfer): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query(UPDATE_BALANCE, [t.firstDelta, t.firstId]);
    await client.query(UPDATE_BALANCE, [t.secondDelta, t.secondId]);
    await client.query(INSERT_LEDGER, [t.from, t.to, t.amount]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

/** `pg.Pool` by hand: connect, BEGIN/…/COMMIT (ROLLBACK on error), release in `finally`. */
export const pgPool: Library = {
  id: 'pg-pool',
  name: 'pg.Pool (by hand)',
  usage: '`pool.connect()`, BEGIN/…/COMMIT by hand (ROLLBACK on error), `client.release()` in `finally`',
  async open(config: OpenConfig): Promise<BenchClient> {
    const pool = new pg.Pool({
      connectionString: config.url,
      max: config.max,
      idleTimeoutMillis: IDLE_MILLIS,
    });
    pool.on('error', () => {
      // An idle client's error; pg.Pool removes the client itself.
    });
    return {
      async select1() {
        const client = await pool.connect();
        try {
          await client.query(SELECT_ONE);
        } finally {
          client.release();
        }
      },
      transfer: (t) => transferOnPool(pool, t),
      close: () => pool.end(),
    };
  },
  async exhaust(url, acquireTimeoutMillis) {
    const pool = new pg.Pool({
      connectionString: url,
      max: 2,
      connectionTimeoutMillis: acquireTimeoutMillis,
    });
    pool.on('error', () => {
      // As above.
    });
    const held = await holdTwo(async (acquired, release) => {
      const client = await pool.connect();
      acquired();
      await release;
      client.release();
    });
    return {
      async attempt() {
        const client = await pool.connect();
        try {
          await client.query(SELECT_ONE);
        } finally {
          client.release();
        }
      },
      async close() {
        await held.release();
        await pool.end();
      },
    };
  },
};
