import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool, PoolClosedError, type PoolConfig, ScopeClosedError } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';
import { appName, captureLog, pollUntil, rejection, settle } from './support/pool-test-kit.js';

describe('closing the pool', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(config: PoolConfig = {}) {
    const app = appName('close');
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

  it('closes idle connections at once', async () => {
    const { pool, app } = makePool({ max: 3 });
    const held = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    await Promise.all(held.map((conn) => conn.release()));
    expect(await countConnections(db.name, app)).toBe(3);

    const closing = await settle(pool.close());

    expect(closing.ok).toBe(true);
    expect(closing.millis).toBeLessThan(1_000);
    expect(pool.closed).toBe(true);
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
    expect(pool.stats()).toMatchObject({ idle: 0, borrowed: 0, created: 3, destroyed: 3 });
  });

  it('waits timeoutMillis for a borrowed connection, then destroys it; its handle is closed afterwards', async () => {
    const { pool, app } = makePool({ max: 2 });
    const conn = await pool.acquire();
    await conn.query('begin');
    await conn.query('insert into items values (1)');
    await pool.query('select 1'); // a second, idle connection
    expect(await countConnections(db.name, app)).toBe(2);

    const closing = await settle(pool.close({ timeoutMillis: 200 }));

    expect(closing.ok).toBe(true);
    expect(closing.millis).toBeGreaterThanOrEqual(150);
    expect(closing.millis).toBeLessThan(2_000);
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
    // The server rolled back what the borrowed connection had not committed.
    expect((await db.admin('select count(*)::int as n from items where id = 1')).rows[0]?.n).toBe(0);
    // The scope's handle refuses further use without touching anything.
    await expect(conn.query('select 1')).rejects.toBeInstanceOf(ScopeClosedError);
    expect(() => conn.client).toThrow(ScopeClosedError);
    await expect(conn.release()).resolves.toBeUndefined();
    expect(pool.stats()).toMatchObject({ borrowed: 0, idle: 0 });
  });

  it('rejects the later queries of a callback scope still running when the timeout passes', async () => {
    const { pool, app } = makePool({ max: 1 });
    let started = false;
    const scope = settle(
      pool.acquire(async (conn) => {
        started = true;
        await sleep(400);
        return conn.query('select 1');
      }),
    );
    await pollUntil(
      () => started,
      (s) => s,
    );

    await pool.close({ timeoutMillis: 100 });
    const outcome = await scope;

    const err = rejection(outcome);
    expect(err).toBeInstanceOf(ScopeClosedError);
    expect(err).toMatchObject({ code: 'SCOPE_CLOSED' });
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
    expect(pool.stats()).toMatchObject({ borrowed: 0 });
  });

  it('resolves as soon as the borrowed connections come back, before the timeout', async () => {
    const { pool, app } = makePool({ max: 1 });
    const conn = await pool.acquire();
    const closing = settle(pool.close({ timeoutMillis: 5_000 }));
    await sleep(100);
    await conn.release();

    const closed = await closing;
    expect(closed.ok).toBe(true);
    expect(closed.millis).toBeLessThan(2_000);
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
  });

  it('a second close() returns the first call’s promise', async () => {
    const { pool } = makePool();
    await pool.query('select 1');
    const first = pool.close({ timeoutMillis: 100 });
    const second = pool.close();
    const third = pool.close({ timeoutMillis: 5_000 });
    expect(second).toBe(first);
    expect(third).toBe(first);
    await first;
    expect(pool.close()).toBe(first);
  });

  it('rejects every acquire after close() with PoolClosedError', async () => {
    const { pool } = makePool();
    await pool.query('select 1');
    const acquiredBefore = pool.stats().acquired;
    await pool.close();

    const attempts = await Promise.all([
      settle(pool.acquire()),
      settle(pool.acquire(async () => 'never')),
      settle(pool.query('select 1')),
      settle(pool.transaction(async () => 'never')),
    ]);
    for (const attempt of attempts) {
      const err = rejection(attempt);
      expect(err).toBeInstanceOf(PoolClosedError);
      expect(err).toMatchObject({ code: 'POOL_CLOSED', name: 'PoolClosedError' });
      expect(attempt.millis).toBeLessThan(50);
    }
    expect(pool.stats()).toMatchObject({ acquired: acquiredBefore, borrowed: 0 });
  });

  it('rejects waiting acquirers with PoolClosedError as soon as close() starts', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const waiters = [settle(pool.acquire()), settle(pool.acquire(async () => 'never'))];
    await pollUntil(
      () => pool.stats().waiting,
      (n) => n === 2,
    );

    const closing = pool.close({ timeoutMillis: 2_000 });
    const closeStarted = performance.now();
    const outcomes = await Promise.all(waiters);

    expect(performance.now() - closeStarted).toBeLessThan(200);
    for (const outcome of outcomes) expect(rejection(outcome)).toBeInstanceOf(PoolClosedError);
    expect(pool.stats().waiting).toBe(0);
    // The borrowed connection still works until it is given back or the timeout passes.
    await expect(held.query<{ n: number }>('select 1 as n')).resolves.toMatchObject({ rows: [{ n: 1 }] });
    await held.release();
    await closing;
  });

  it('await using closes the pool at the end of the block', async () => {
    const app = appName('close-using');
    let outside: Pool | undefined;
    {
      await using pool = createPool({
        ...db.config,
        application_name: app,
        logger: captureLog('warn').logger,
      });
      outside = pool;
      await pool.query('select 1');
      expect(await countConnections(db.name, app)).toBe(1);
    }
    expect(outside.closed).toBe(true);
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
    await expect(outside.query('select 1')).rejects.toBeInstanceOf(PoolClosedError);
  });

  it('closes the connections that min keeps open', async () => {
    const { pool, app } = makePool({ max: 3, min: 2 });
    expect(await waitForConnections(db.name, 2, { applicationName: app, timeoutMillis: 3_000 })).toBe(2);
    await pool.close();
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
    // And does not open them again afterwards.
    await sleep(300);
    expect(await countConnections(db.name, app)).toBe(0);
  });
});
