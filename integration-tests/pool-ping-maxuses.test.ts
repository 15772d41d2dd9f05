import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ConnectError, createPool, PoolExhaustedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { closedPort, settle } from './support/pool-test-kit.js';
import { backendPid, poolFor, quietLogger } from './support/tx-support.js';

describe('pool.ping() and maxUses', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('ping, server up: resolves with the round trip in ms and gives the connection back', async () => {
    await using pool = poolFor(db, { max: 2 });
    const latency = await pool.ping({ timeoutMillis: 2_000 });
    expect(latency).toBeGreaterThanOrEqual(0);
    expect(latency).toBeLessThan(2_000);
    expect(pool.stats()).toMatchObject({ borrowed: 0, idle: 1, created: 1, acquired: 1 });
    // The next one borrows the idle connection.
    await pool.ping();
    expect(pool.stats()).toMatchObject({ created: 1, acquired: 2 });
  });

  it('ping, server down: rejects with ConnectError within its timeout', async () => {
    await using pool = createPool({
      host: '127.0.0.1',
      port: await closedPort(),
      user: 'nobody',
      database: 'nothing',
      logger: quietLogger(),
    });
    const outcome = await settle(pool.ping({ timeoutMillis: 500 }));
    expect(outcome.ok).toBe(false);
    expect((outcome as { error: unknown }).error).toBeInstanceOf(ConnectError);
    expect(outcome.millis).toBeLessThan(2_000);
  });

  it('ping, server not answering (blackhole): rejects with ConnectError and the connection is destroyed', async () => {
    const proxy = await startFaultProxy({ host: db.config.host, port: db.config.port });
    try {
      await using pool = createPool({
        ...db.config,
        host: proxy.host,
        port: proxy.port,
        logger: quietLogger(),
      });
      await pool.ping();
      proxy.blackhole();
      const outcome = await settle(pool.ping({ timeoutMillis: 300 }));
      expect((outcome as { error: unknown }).error).toBeInstanceOf(ConnectError);
      expect(outcome.millis).toBeLessThan(1_500);
      expect(pool.stats()).toMatchObject({ borrowed: 0, idle: 0 });
    } finally {
      await proxy.close();
    }
  });

  it('ping, pool exhausted: rejects with PoolExhaustedError after its timeout', async () => {
    await using pool = poolFor(db, { max: 1 });
    await using held = await pool.acquire();
    await held.query('select 1');
    const outcome = await settle(pool.ping({ timeoutMillis: 200 }));
    expect((outcome as { error: unknown }).error).toBeInstanceOf(PoolExhaustedError);
    expect((outcome as { error: unknown }).error).toMatchObject({ reason: 'timeout' });
  });

  it('ping: bad options are ConfigError', async () => {
    await using pool = poolFor(db);
    await expect(pool.ping({ timeoutMillis: 0 })).rejects.toMatchObject({ field: 'timeoutMillis' });
    await expect(pool.ping({ timeout: 5 } as never)).rejects.toBeInstanceOf(ConfigError);
    expect(pool.stats().acquired).toBe(0);
  });

  it('maxUses: 3 recycles a connection after its third use', async () => {
    await using pool = poolFor(db, { max: 1, maxUses: 3 });
    const pids: number[] = [];
    for (let i = 0; i < 7; i++) pids.push(await pool.acquire((conn) => backendPid(conn)));
    const [a, b, c] = [pids[0], pids[3], pids[6]];
    expect(pids).toEqual([a, a, a, b, b, b, c]);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(pool.stats()).toMatchObject({ created: 3, destroyed: 2 });
    // Transactions count as uses too.
    await pool.transaction((tx) => tx.query('select 1'));
    await pool.transaction((tx) => tx.query('select 1'));
    expect(await pool.acquire((conn) => backendPid(conn))).not.toBe(c);
  });

  it('maxUses is validated', () => {
    for (const bad of [0, -1, 1.5, '3', null, Number.NaN]) {
      expect(() => poolFor(db, { maxUses: bad as never })).toThrow(ConfigError);
      try {
        poolFor(db, { maxUses: bad as never });
      } catch (err) {
        expect(err).toMatchObject({ field: 'maxUses' });
      }
    }
  });
});
