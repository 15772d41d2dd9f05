import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Connection, createPool, type Pool, type PoolConfig } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase } from './setup/db.js';
import {
  appName,
  captureLog,
  Level,
  type ProcessErrorWatch,
  pollUntil,
  rejection,
  settle,
  watchProcessErrors,
} from './support/pool-test-kit.js';

describe('broken connections are removed, never reused', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];
  let watch: ProcessErrorWatch;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  beforeEach(() => {
    watch = watchProcessErrors();
  });

  afterEach(() => {
    watch.stop();
    // Nothing a terminated backend does may reach the process as an uncaught error.
    expect(watch.errors).toEqual([]);
  });

  function makePool(config: PoolConfig = {}) {
    const app = appName('health');
    const log = captureLog('debug');
    const pool = createPool({
      ...db.config,
      application_name: app,
      logger: log.logger,
      acquireTimeoutMillis: 5_000,
      ...config,
    });
    pools.push(pool);
    return { pool, log, app };
  }

  async function pidOf(conn: Connection): Promise<number> {
    const { rows } = await conn.query<{ pid: number }>('select pg_backend_pid() as pid');
    const pid = rows[0]?.pid;
    if (pid === undefined) throw new Error('no pid');
    return pid;
  }

  async function terminate(pid: number): Promise<void> {
    const { rows } = await db.admin('select pg_terminate_backend($1) as done', [pid]);
    expect(rows[0]?.done).toBe(true);
    // Gone from the server before we go on.
    const left = await pollUntil(
      async () =>
        (await db.admin('select count(*)::int as n from pg_stat_activity where pid = $1', [pid])).rows[0]?.n,
      (n) => n === 0,
    );
    expect(left).toBe(0);
  }

  it('survives pg_terminate_backend of an idle connection and hands out a fresh one next', async () => {
    const { pool, log, app } = makePool({ max: 1 });
    const pid = await pool.acquire(pidOf);
    expect(pool.stats()).toMatchObject({ idle: 1, borrowed: 0 });

    await terminate(pid);

    const next = await settle(pool.acquire(pidOf));
    expect(next.ok).toBe(true);
    if (!next.ok) return;
    expect(next.value).not.toBe(pid);
    expect(pool.stats()).toMatchObject({ created: 2, destroyed: 1, borrowed: 0 });
    expect(await countConnections(db.name, app)).toBe(1);
    // The loss was logged at warn.
    expect(log.lines.some((line) => line.level >= Level.warn && line.event === 'conn.error')).toBe(true);
  });

  it('survives the termination of every idle connection at once', async () => {
    const { pool, app } = makePool({ max: 3 });
    const held = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    const pids = await Promise.all(held.map(pidOf));
    await Promise.all(held.map((conn) => conn.release()));
    expect(pool.stats().idle).toBe(3);

    await Promise.all(pids.map(terminate));

    const fresh = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    const freshPids = await Promise.all(fresh.map(pidOf));
    await Promise.all(fresh.map((conn) => conn.release()));
    for (const pid of freshPids) expect(pids).not.toContain(pid);
    expect(new Set(freshPids).size).toBe(3);
    expect(await countConnections(db.name, app)).toBe(3);
    expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: 3 });
  });

  it('a connection terminated while borrowed fails the scope and is destroyed, not returned', async () => {
    const { pool } = makePool({ max: 1 });
    let pid = 0;
    const outcome = await settle(
      pool.acquire(async (conn) => {
        pid = await pidOf(conn);
        await terminate(pid);
        return conn.query('select 1');
      }),
    );

    // The caller learns about it: the query failed on a lost connection.
    const err = rejection(outcome);
    expect(err).toBeInstanceOf(Error);
    expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: 1, idle: 0 });
    expect(await pool.acquire(pidOf)).not.toBe(pid);
  });

  it('a connection terminated during a running query is destroyed, and the query rejects with 57P01', async () => {
    const { pool } = makePool({ max: 1 });
    let pid = 0;
    const outcome = await settle(
      pool.acquire(async (conn) => {
        pid = await pidOf(conn);
        const running = conn.query('select pg_sleep(30)');
        running.catch(() => {
          // Handled by the scope's caller below; this only keeps the rejection from counting as unhandled while
          // the termination is under way.
        });
        await pollUntil(
          async () =>
            (
              await db.admin(
                "select count(*)::int as n from pg_stat_activity where pid = $1 and state = 'active'",
                [pid],
              )
            ).rows[0]?.n,
          (n) => n === 1,
        );
        await db.admin('select pg_terminate_backend($1)', [pid]);
        return running;
      }),
    );

    expect(outcome.millis).toBeLessThan(10_000);
    expect(rejection(outcome)).toMatchObject({ code: '57P01' });
    expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: 1 });
    expect(await pool.acquire(pidOf)).not.toBe(pid);
  });

  it('a waiter gets a fresh connection when the one coming back is broken', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const pid = await pidOf(held);
    const waiter = pool.acquire(pidOf);
    await pollUntil(
      () => pool.stats().waiting,
      (n) => n === 1,
    );

    await terminate(pid);
    await held.release();

    const next = await settle(waiter);
    expect(next.ok).toBe(true);
    if (next.ok) expect(next.value).not.toBe(pid);
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0, destroyed: 1 });
  });
});
