import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connection, createPool, type Pool, type PoolConfig } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';
import { appName, captureLog, pollUntil } from './support/pool-test-kit.js';

describe('pool size over time: min, idle timeout, max lifetime', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(config: PoolConfig) {
    const app = appName('sizing');
    const pool = createPool({
      ...db.config,
      application_name: app,
      logger: captureLog('warn').logger,
      acquireTimeoutMillis: 5_000,
      ...config,
    });
    pools.push(pool);
    return { pool, app };
  }

  async function pidOf(conn: Connection): Promise<number> {
    const { rows } = await conn.query<{ pid: number }>('select pg_backend_pid() as pid');
    const pid = rows[0]?.pid;
    if (pid === undefined) throw new Error('no pid');
    return pid;
  }

  it('opens min connections by itself, before any acquire', async () => {
    const { pool, app } = makePool({ max: 5, min: 2 });

    expect(await waitForConnections(db.name, 2, { applicationName: app, timeoutMillis: 3_000 })).toBe(2);
    expect(pool.stats()).toMatchObject({ idle: 2, borrowed: 0, acquired: 0, created: 2 });
    // And no more than min while nobody asks.
    await sleep(200);
    expect(await countConnections(db.name, app)).toBe(2);
  });

  it('replaces a min connection that was terminated', async () => {
    const { pool, app } = makePool({ max: 3, min: 1, idleTimeoutMillis: 200 });
    expect(await waitForConnections(db.name, 1, { applicationName: app, timeoutMillis: 3_000 })).toBe(1);
    const pid = await pool.acquire(pidOf);
    await db.admin('select pg_terminate_backend($1)', [pid]);
    // Gone from the server (and so its goodbye has reached the pool) before we go on.
    const left = await pollUntil(
      async () =>
        (await db.admin('select count(*)::int as n from pg_stat_activity where pid = $1', [pid])).rows[0]?.n,
      (n) => n === 0,
    );
    expect(left).toBe(0);

    // The next acquire gets a working connection either way, and min is kept.
    expect(await pool.acquire(pidOf)).not.toBe(pid);
    expect(await waitForConnections(db.name, 1, { applicationName: app, timeoutMillis: 3_000 })).toBe(1);
  });

  it('closes idle connections above min after idleTimeoutMillis, and keeps min', async () => {
    const { pool, app } = makePool({ max: 4, min: 1, idleTimeoutMillis: 200 });
    const held = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()]);
    expect(await countConnections(db.name, app)).toBe(4);
    await Promise.all(held.map((conn) => conn.release()));

    const left = await waitForConnections(db.name, 1, { applicationName: app, timeoutMillis: 3_000 });
    expect(left).toBe(1);
    // Everything above min was closed (on a cold start the pool may have opened a spare it closed at once).
    const stats = pool.stats();
    expect(stats.idle).toBe(1);
    expect(stats.destroyed).toBe(stats.created - 1);
    // min holds: it stays at one.
    await sleep(500);
    expect(await countConnections(db.name, app)).toBe(1);
  });

  it('with min 0 closes every idle connection after idleTimeoutMillis', async () => {
    const { pool, app } = makePool({ max: 2, idleTimeoutMillis: 200 });
    const held = await Promise.all([pool.acquire(), pool.acquire()]);
    await Promise.all(held.map((conn) => conn.release()));
    expect(await countConnections(db.name, app)).toBe(2);

    expect(await waitForConnections(db.name, 0, { applicationName: app, timeoutMillis: 3_000 })).toBe(0);
    expect(pool.stats()).toMatchObject({ idle: 0, size: 0, destroyed: 2 });
    // The next acquire opens a fresh one.
    await expect(pool.query('select 1')).resolves.toMatchObject({ rowCount: 1 });
  });

  it('does not close a connection while it is borrowed, however long', async () => {
    const { pool } = makePool({ max: 1, idleTimeoutMillis: 100 });
    await pool.acquire(async (conn) => {
      const pid = await pidOf(conn);
      await sleep(400);
      expect(await pidOf(conn)).toBe(pid);
    });
    expect(pool.stats()).toMatchObject({ destroyed: 0 });
  });

  it('recycles a connection after maxLifetimeMillis', async () => {
    const { pool, app } = makePool({ max: 1, maxLifetimeMillis: 300 });
    const first = await pool.acquire(pidOf);
    expect(await pool.acquire(pidOf)).toBe(first);

    await sleep(450);
    const second = await pool.acquire(pidOf);

    expect(second).not.toBe(first);
    expect(pool.stats()).toMatchObject({ created: 2, destroyed: 1, borrowed: 0 });
    expect(await waitForConnections(db.name, 1, { applicationName: app })).toBe(1);
  });

  it('replaces connections kept for min that no caller takes once they reach maxLifetimeMillis', async () => {
    const { pool, app } = makePool({ min: 2, max: 2, maxLifetimeMillis: 400 });
    expect(await waitForConnections(db.name, 2, { applicationName: app })).toBe(2);
    const backends = () =>
      db.admin(
        "select pid from pg_stat_activity where datname = $1 and application_name = $2 and backend_type = 'client backend'",
        [db.name, app],
      );
    const original = new Set((await backends()).rows.map((r) => r.pid as number));
    expect(original.size).toBe(2);
    // No acquire at all: the pool itself closes the idle connections past their lifetime and opens others.
    const replaced = await pollUntil(
      async () => {
        const pids = (await backends()).rows.map((r) => r.pid as number);
        return pids.length === 2 && pids.every((pid) => !original.has(pid));
      },
      (done) => done,
      5_000,
    );
    expect(replaced).toBe(true);
    expect(pool.stats().destroyed).toBeGreaterThanOrEqual(2);
    expect(pool.stats()).toMatchObject({ borrowed: 0 });
  });

  it('never cuts a connection past its lifetime in the middle of a scope; recycles it on release', async () => {
    const { pool } = makePool({ max: 1, maxLifetimeMillis: 200 });
    const pid = await pool.acquire(async (conn) => {
      const before = await pidOf(conn);
      await sleep(350);
      // Past its lifetime, still the same working connection inside the scope.
      expect(await pidOf(conn)).toBe(before);
      return before;
    });
    const destroyed = await pollUntil(
      () => pool.stats().destroyed,
      (n) => n === 1,
    );
    expect(destroyed).toBe(1);
    expect(await pool.acquire(pidOf)).not.toBe(pid);
  });
});
