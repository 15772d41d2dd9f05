import { devNull } from 'node:os';
import { pino } from 'pino';
import { loadPgScope, type PgScopeModule } from '../pg-scope-build.js';
import { INSERT_LEDGER, SELECT_ONE, type Transfer, UPDATE_BALANCE } from '../sql.js';
import {
  type BenchClient,
  type HeldPool,
  holdTwo,
  IDLE_MILLIS,
  type Library,
  type OpenConfig,
} from './types.js';

/** pino at `'warn'` (pg-scope's default level), writing to the null device so nothing reaches the console. */
function quietLogger() {
  return pino({ level: 'warn' }, pino.destination({ dest: devNull, sync: true }));
}

/** pg-scope's pool for a workload; `resolveCommitOutcome` and `prepare` as given, else the defaults. */
async function openPgScope(
  config: OpenConfig,
  resolveCommitOutcome?: boolean,
  prepare?: boolean,
): Promise<BenchClient> {
  const { createPool } = (await loadPgScope()).module;
  const pool = createPool({
    connectionString: config.url,
    max: config.max,
    idleTimeoutMillis: IDLE_MILLIS,
    logger: quietLogger(),
    ...(resolveCommitOutcome === undefined ? {} : { resolveCommitOutcome }),
    ...(prepare === undefined ? {} : { prepare }),
  });
  return clientOf(pool);
}

/** pg-scope with its defaults (logging at `'warn'`, nested-acquire warnings on), pool of `max`. */
export const pgScope: Library = {
  id: 'pg-scope',
  name: 'pg-scope',
  usage:
    '`pool.acquire(conn => conn.query(…))`, `pool.transaction(tx => …)`; defaults, pino logger at `warn` ' +
    'to the null device',
  open: (config) => openPgScope(config),
  exhaust,
};

/** The same calls with `prepare: true`: named statements cached per connection, as postgres.js by default. */
export const pgScopePrepared: Library = {
  id: 'pg-scope-prepared',
  name: 'pg-scope (prepare: true)',
  usage: 'the same calls with `prepare: true` (named statements, cached per connection, as postgres.js does)',
  open: (config) => openPgScope(config, undefined, true),
  exhaust,
};

/** A pool of 2 whose connections are both held, for the exhaustion workload. */
async function exhaust(url: string, acquireTimeoutMillis: number): Promise<HeldPool> {
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

/** The pool's calls the workloads make. */
function clientOf(pool: ReturnType<PgScopeModule['createPool']>): BenchClient {
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

/**
 * pg-scope with `resolveCommitOutcome: false` (no transaction id in COMMIT's flight): run beside `pg-scope`
 * to measure what the default costs (`--libs pg-scope,pg-scope-no-resolve`).
 */
export const pgScopeNoResolve: Library = {
  id: 'pg-scope-no-resolve',
  name: 'pg-scope, resolveCommitOutcome: false',
  usage: 'as pg-scope, with `resolveCommitOutcome: false`',
  optIn: true,
  open: (config) => openPgScope(config, false),
};
