import { createPool, type Pool } from 'generic-pool';
import pg from 'pg';
import { INSERT_LEDGER, SELECT_ONE, type Transfer, UPDATE_BALANCE } from '../sql.js';
import { type BenchClient, holdTwo, type Library, type OpenConfig } from './types.js';

function clientPool(url: string, max: number, acquireTimeoutMillis?: number): Pool<pg.Client> {
  return createPool<pg.Client>(
    {
      async create() {
        const client = new pg.Client({ connectionString: url });
        client.on('error', () => {
          // The next query on this client fails and the caller destroys it.
        });
        await client.connect();
        return client;
      },
      destroy: (client) => client.end(),
    },
    { max, ...(acquireTimeoutMillis === undefined ? {} : { acquireTimeoutMillis }) },
  );
}

async function closePool(pool: Pool<pg.Client>): Promise<void> {
  await pool.drain();
  await pool.clear();
}

/** generic-pool over `pg.Client` by hand: acquire, BEGIN/…/COMMIT, release (destroy when ROLLBACK fails). */
export const genericPool: Library = {
  id: 'generic-pool',
  name: 'generic-pool + pg',
  usage:
    '`pool.acquire()` of `pg.Client`s, BEGIN/…/COMMIT by hand, `release` in `finally` (`destroy` when ROLLBACK fails)',
  async open(config: OpenConfig): Promise<BenchClient> {
    const pool = clientPool(config.url, config.max);
    return {
      async select1() {
        const client = await pool.acquire();
        try {
          await client.query(SELECT_ONE);
        } finally {
          await pool.release(client);
        }
      },
      async transfer(t: Transfer) {
        const client = await pool.acquire();
        let broken = false;
        try {
          await client.query('BEGIN');
          await client.query(UPDATE_BALANCE, [t.firstDelta, t.firstId]);
          await client.query(UPDATE_BALANCE, [t.secondDelta, t.secondId]);
          await client.query(INSERT_LEDGER, [t.from, t.to, t.amount]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
          throw err;
        } finally {
          if (broken) await pool.destroy(client);
          else await pool.release(client);
        }
      },
      close: () => closePool(pool),
    };
  },
  async exhaust(url, acquireTimeoutMillis) {
    const pool = clientPool(url, 2, acquireTimeoutMillis);
    const held = await holdTwo(async (acquired, release) => {
      const client = await pool.acquire();
      acquired();
      await release;
      await pool.release(client);
    });
    return {
      async attempt() {
        const client = await pool.acquire();
        try {
          await client.query(SELECT_ONE);
        } finally {
          await pool.release(client);
        }
      },
      async close() {
        await held.release();
        await closePool(pool);
      },
    };
  },
};
