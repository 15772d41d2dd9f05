import { createPool, sql } from 'slonik';
import type { Transfer } from '../sql.js';
import { type BenchClient, holdTwo, IDLE_MILLIS, type Library, type OpenConfig } from './types.js';

// `sql.unsafe` templates compile to `sql.ts`'s texts exactly, with bound values.

/** Slonik with its defaults (it resets a released connection with DISCARD ALL), `pool.transaction`. */
export const slonik: Library = {
  id: 'slonik',
  name: 'Slonik',
  usage: '`` pool.query(sql.unsafe`…`) ``, `pool.transaction(tx => …)`; defaults (DISCARD ALL on release)',
  async open(config: OpenConfig): Promise<BenchClient> {
    const pool = await createPool(config.url, { maximumPoolSize: config.max, idleTimeout: IDLE_MILLIS });
    return {
      async select1() {
        await pool.query(sql.unsafe`SELECT 1`);
      },
      async transfer(t: Transfer) {
        await pool.transaction(async (tx) => {
          await tx.query(
            sql.unsafe`UPDATE bench_accounts SET balance = balance + ${t.firstDelta} WHERE id = ${t.firstId}`,
          );
          await tx.query(
            sql.unsafe`UPDATE bench_accounts SET balance = balance + ${t.secondDelta} WHERE id = ${t.secondId}`,
          );
          await tx.query(
            sql.unsafe`INSERT INTO bench_ledger (from_id, to_id, amount) VALUES (${t.from}, ${t.to}, ${t.amount})`,
          );
        });
      },
      close: () => pool.end(),
    };
  },
  async exhaust(url, acquireTimeoutMillis) {
    const pool = await createPool(url, { maximumPoolSize: 2, connectionTimeout: acquireTimeoutMillis });
    const held = await holdTwo((acquired, release) =>
      pool.connect(async () => {
        acquired();
        await release;
      }),
    );
    return {
      async attempt() {
        await pool.query(sql.unsafe`SELECT 1`);
      },
      async close() {
        await held.release();
        await pool.end();
      },
    };
  },
};
