import { devNull } from 'node:os';
import { pino } from 'pino';
import { loadPgScope } from '../pg-scope-build.js';
import { INSERT_LEDGER, SELECT_ONE, type Transfer, UPDATE_BALANCE } from '../sql.js';
import { type BenchClient, holdTwo, IDLE_MILLIS, type Library, type OpenConfig } from './types.js';

/** pino at `'warn'` (pg-scope's default level), writing to the null device so nothing reaches the console. */
function quietLogger() {
  return pino({ level: 'warn' }, pino.destination({ dest: devNull, sync: true }));
}

/** pg-scope with its defaults (logging at `'warn'`, nested-acquire warnings on), pool of `max`. */
export const pgScope: Library = {
  id: 'pg-scope',
  name: 'pg-scope',
  usage:
    '`pool.acquire(conn => conn.query(…))`, `pool.transaction(tx => …)`; defaults, pino logger at `warn` ' +
    'to the null device',
  open: (config) => open(config, false),
  exhaust,
};

/** The same calls with `prepare: true`: named statements cached per connection, as postgres.js by default. */
export const pgScopePrepared: Library = {
  id: 'pg-scope-prepared',
  name: 'pg-scope (prepare: true)',
  usage: 'the same calls with `prepare: true` (named statements, cached per connection, as postgres.js does)',
  open: (config) => open(config, true),
  exhaust,
};

async function open(config: OpenConfig, prepare: boolean): Promise<BenchClient> {
  const { createPool } = (await loadPgScope()).module;
  const pool = createPool({
    connectionString: config.url,
    max: config.max,
    idleTimeoutMillis: IDLE_MILLIS,
    logger: quietLogger(),
    ...(prepare && { prepare }),
  });
  return {
    async select1() {
      await pool.acquire((conn) => conn.query(SELECT_ONE));
    },
    transfer(t: Transfer) {
      return pool.transaction(async (tx) => {
        await tx.query(UPDATE_BALANCE, [t.firstDelta, t.firstId]);
        await tx.query(UPDATE_BALANCE, [t.secondDelta, t.secondId]);
        await tx.query(INSERT_LEDGER, [t.from, t.to, t.amount]);
      });
    },
    close: () => pool.close(),
  };
}

async function exhaust(url: string, acquireTimeoutMillis: number) {
  const { createPool } = (await loadPgScope()).module;
  const pool = createPool({ connectionString: url, max: 2, acquireTimeoutMillis, logger: quietLogger() });
  const held = await holdTwo((acquired, release) =>
    pool.acquire(async () => {
      acquired();
      await release;
    }),
  );
  return {
    async attempt() {
      await pool.acquire((conn) => conn.query(SELECT_ONE));
    },
    async close() {
      await held.release();
      await pool.close();
    },
  };
}
