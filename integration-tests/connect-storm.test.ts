import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool, type PoolConfig } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';
import { appName, captureLog } from './support/pool-test-kit.js';

describe('connect storm', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];
  const role = `pgscope_${randomBytes(6).toString('hex')}`;
  const rolePassword = randomBytes(12).toString('hex');

  beforeAll(async () => {
    db = await createTestDatabase();
    // A role the server lets open only 3 sessions: beyond that it answers 53300 (too many connections).
    await db.admin(`create role ${role} login connection limit 3 password '${rolePassword}'`);
    await db.admin(`grant connect on database ${db.name} to ${role}`);
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
    // Roles belong to the server, not the database: drop it through the maintenance database.
    const admin = new pg.Client({ ...db.config, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`drop role if exists ${role}`);
    } finally {
      await admin.end();
    }
  });

  function makePool(config: PoolConfig) {
    const app = appName('storm');
    const pool = createPool({
      ...db.config,
      application_name: app,
      logger: captureLog('warn').logger,
      acquireTimeoutMillis: 20_000,
      ...config,
    });
    pools.push(pool);
    return { pool, app };
  }

  /** Samples the pool's session count until `done` settles (or 20 s pass); resolves with every sample taken. */
  async function sampleWhile(app: string, done: Promise<unknown>): Promise<number[]> {
    let finished = false;
    const stop = () => {
      finished = true;
    };
    done.then(stop, stop);
    const deadline = performance.now() + 20_000;
    const samples: number[] = [];
    while (!finished && performance.now() < deadline) {
      samples.push(await countConnections(db.name, app));
    }
    return samples;
  }

  it('serves 200 concurrent acquires on a cold pool of 5 without ever opening more than 5 sessions', async () => {
    const { pool, app } = makePool({ max: 5 });

    const storm = Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        pool.acquire(async (conn) => {
          const { rows } = await conn.query<{ n: number }>('select $1::int as n, pg_sleep(0.002)', [i]);
          return rows[0]?.n;
        }),
      ),
    );
    const samples = await sampleWhile(app, storm);
    const results = await storm;

    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(samples.length).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBeLessThanOrEqual(5);
    expect(await countConnections(db.name, app)).toBeLessThanOrEqual(5);
    const stats = pool.stats();
    expect(stats.created).toBeLessThanOrEqual(5);
    expect(stats).toMatchObject({ acquired: 200, borrowed: 0, waiting: 0, exhausted: 0 });
  });

  it('pool.query() storms stay within max too', async () => {
    const { pool, app } = makePool({ max: 4 });
    const storm = Promise.all(
      Array.from({ length: 200 }, (_, i) => pool.query<{ n: number }>('select $1::int as n', [i])),
    );
    const samples = await sampleWhile(app, storm);
    const results = await storm;

    expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(Math.max(...samples)).toBeLessThanOrEqual(4);
    expect(pool.stats().created).toBeLessThanOrEqual(4);
    expect(pool.stats()).toMatchObject({ acquired: 200, borrowed: 0 });
  });

  it('rides out "too many connections" (53300) with the sessions the server allows', async () => {
    const { pool, app } = makePool({ max: 5, user: role, password: rolePassword });

    const storm = Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        pool.acquire(async (conn) => {
          const { rows } = await conn.query<{ n: number }>('select $1::int as n, pg_sleep(0.002)', [i]);
          return rows[0]?.n;
        }),
      ),
    );
    const samples = await sampleWhile(app, storm);
    const results = await storm;

    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Math.max(...samples)).toBeLessThanOrEqual(3);
    expect(pool.stats().created).toBeLessThanOrEqual(3);
    expect(pool.stats()).toMatchObject({ acquired: 100, borrowed: 0, waiting: 0 });

    await pool.close();
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
  });
});
