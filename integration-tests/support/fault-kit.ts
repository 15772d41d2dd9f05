import { expect } from 'vitest';
import { createPool, type Pool, type PoolConfig } from '../../src/index.js';
import { countConnections, type TestDatabase } from '../setup/db.js';
import type { FaultProxy } from './fault-proxy.js';
import { appName, type CapturedLog, captureLog, pollUntil } from './pool-test-kit.js';

/** A pool made for a fault test, with what the test needs to check on it. */
export interface FaultPool {
  readonly pool: Pool;
  /** The `application_name` of its sessions, for counting them in `pg_stat_activity`. */
  readonly app: string;
  readonly log: CapturedLog;
  readonly max: number;
}

/**
 * A pool on `db`, through `proxy` when given (else straight to the server), with its own application name and
 * a captured logger (warn and above), so a run stays quiet and its log lines can be asserted on. `config` may
 * override the credentials (`user`, `password`) and any pool option.
 */
export function faultPool(
  db: TestDatabase,
  proxy: FaultProxy | undefined,
  config: Omit<PoolConfig, 'host' | 'port' | 'database'> = {},
): FaultPool {
  const app = appName('fault');
  const log = captureLog('warn');
  const max = config.max ?? 10;
  const pool = createPool({
    ...db.config,
    ...(proxy ? { host: proxy.host, port: proxy.port } : {}),
    application_name: app,
    logger: log.logger,
    ...config,
    max,
  });
  return { pool, app, log, max };
}

/** The backend pid of a session, as a number. */
export async function backendPid(query: (sql: string) => Promise<{ rows: unknown[] }>): Promise<number> {
  const { rows } = await query('select pg_backend_pid() as pid');
  return Number((rows[0] as { pid: number }).pid);
}

/** Terminates the backends `pids` from a separate superuser session. */
export async function terminate(db: TestDatabase, pids: number[]): Promise<void> {
  await db.admin('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [pids]);
}

/** The pids of the sessions of `app` in `db`. */
export async function sessionPids(db: TestDatabase, app: string): Promise<number[]> {
  const { rows } = await db.admin(
    'select pid from pg_stat_activity where datname = current_database() and application_name = $1',
    [app],
  );
  return rows.map((row: { pid: number }) => Number(row.pid));
}

/**
 * The healthy-pool check every fault test ends with: nothing borrowed (polled: a scope may still be giving
 * its connection back), at most `max` server sessions, and a fresh transaction commits and can be read back.
 */
export async function expectHealthy(db: TestDatabase, fp: FaultPool): Promise<void> {
  const borrowed = await pollUntil(
    () => fp.pool.stats().borrowed,
    (n) => n === 0,
    10_000,
  );
  expect(borrowed).toBe(0);
  expect(await countConnections(db.name, fp.app)).toBeLessThanOrEqual(fp.max);
  const marker = `healthy-${Math.random().toString(36).slice(2)}`;
  await fp.pool.transaction(async (tx) => {
    await tx.query('create table if not exists health_check (marker text primary key)');
    await tx.query('insert into health_check (marker) values ($1)', [marker]);
  });
  const { rows } = await fp.pool.query('select count(*)::int as n from health_check where marker = $1', [
    marker,
  ]);
  expect(rows[0]).toEqual({ n: 1 });
  expect(fp.pool.stats().borrowed).toBe(0);
  expect(await countConnections(db.name, fp.app)).toBeLessThanOrEqual(fp.max);
}

/** The SQLSTATE or Node error code of an error (or of its cause), if any. */
export function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
