import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectError, type Connection, createPool, type Pool, type PoolConfig } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';
import { appName, captureLog, rejection, settle } from './support/pool-test-kit.js';

describe('onConnect', () => {
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
    const app = appName('onconnect');
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

  async function tagOf(conn: Connection): Promise<string | null> {
    const { rows } = await conn.query<{ tag: string | null }>(
      "select current_setting('app.tag', true) as tag",
    );
    return rows[0]?.tag ?? null;
  }

  it('runs once per new connection, before any scope sees it', async () => {
    const seen: pg.Client[] = [];
    const { pool } = makePool({
      max: 2,
      onConnect: async (client) => {
        seen.push(client);
        await client.query("select set_config('app.tag', 'hello', false)");
      },
    });

    for (let i = 0; i < 4; i++) expect(await pool.acquire(tagOf)).toBe('hello');
    expect(seen).toHaveLength(1);

    // Both held at once: the second needs a connection of its own.
    const both = await Promise.all([pool.acquire(), pool.acquire()]);
    const tags = await Promise.all(both.map(tagOf));
    await Promise.all(both.map((conn) => conn.release()));
    expect(tags).toEqual(['hello', 'hello']);
    expect(seen).toHaveLength(2);
    expect(new Set(seen).size).toBe(2);
    expect(pool.stats().created).toBe(2);
  });

  it('its session settings are visible in pg_stat_activity', async () => {
    const { pool, app } = makePool({
      max: 1,
      onConnect: async (client) => {
        await client.query(`set application_name = '${app}-set'`);
      },
    });
    await pool.acquire(async (conn) => {
      const { rows } = await conn.query<{ app: string }>("select current_setting('application_name') as app");
      expect(rows[0]?.app).toBe(`${app}-set`);
      expect(await countConnections(db.name, `${app}-set`)).toBe(1);
    });
  });

  it('runs again for the connection that replaces a destroyed one', async () => {
    let calls = 0;
    const { pool } = makePool({
      max: 1,
      onConnect: async (client) => {
        calls++;
        await client.query(`select set_config('app.tag', 'call-${calls}', false)`);
      },
    });
    expect(await pool.acquire(tagOf)).toBe('call-1');
    // A scope that ends while its query runs: the connection is destroyed.
    await pool.acquire(async (conn) => {
      void conn.query('select pg_sleep(10)').catch(() => {
        // Expected: the connection is closed under it.
      });
    });
    expect(await pool.acquire(tagOf)).toBe('call-2');
    expect(calls).toBe(2);
  });

  it('a failing onConnect fails the acquire with ConnectError and leaves no session open', async () => {
    const failure = new Error('setup refused');
    const { pool, app } = makePool({
      max: 2,
      onConnect: async () => {
        throw failure;
      },
    });

    const outcome = await settle(pool.acquire());

    expect(outcome.millis).toBeLessThan(2_000);
    const err = rejection(outcome);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err).toMatchObject({ code: 'CONNECT_FAILED' });
    expect((err as ConnectError).cause).toBe(failure);
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
    expect(pool.stats()).toMatchObject({ created: 0, borrowed: 0, waiting: 0 });
  });

  it('a hanging onConnect counts against connectTimeoutMillis; its connections are closed', async () => {
    const { pool, app } = makePool({
      max: 2,
      connectTimeoutMillis: 200,
      acquireTimeoutMillis: 700,
      onConnect: () => sleep(10_000),
    });

    const outcome = await settle(pool.acquire());

    expect(outcome.millis).toBeGreaterThanOrEqual(150);
    expect(outcome.millis).toBeLessThan(2_000);
    expect(rejection(outcome)).toBeInstanceOf(ConnectError);
    expect(pool.stats()).toMatchObject({ created: 0, borrowed: 0 });
    expect(await waitForConnections(db.name, 0, { applicationName: app, timeoutMillis: 3_000 })).toBe(0);
  });
});
