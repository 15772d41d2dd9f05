import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PoolExhaustedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { faultPool } from './support/fault-kit.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { pollUntil, settle } from './support/pool-test-kit.js';

/**
 * A server slower to accept a session than the acquire timeout: the caller times out with room left in the pool,
 * and the error says that a connection was still being opened, not only "n/max in use".
 */
describe('acquire timeout while a connection is being opened', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('says the connection was still being opened; the late connection then serves the next caller', async () => {
    const proxy = await startFaultProxy({ host: db.config.host, port: db.config.port });
    // Every chunk waits 150 ms each way: the startup exchange takes several of them.
    proxy.latency(150);
    const { pool } = faultPool(db, proxy, {
      max: 2,
      acquireTimeoutMillis: 100,
      connectTimeoutMillis: 10_000,
    });
    try {
      const outcome = await settle(pool.query('select 1'));
      expect(outcome.ok).toBe(false);
      const error = outcome.ok ? undefined : outcome.error;
      expect(error).toBeInstanceOf(PoolExhaustedError);
      expect((error as PoolExhaustedError).reason).toBe('timeout');
      expect((error as PoolExhaustedError).message).toMatch(
        /^pool exhausted: 0\/2 connections in use, 0 waiting, waited \d+ ms; 1 connection was still being opened/,
      );
      console.log(`slow server: ${(error as Error).message}`);
      // The connection opened for the caller that left is kept: the next caller gets it, nothing new is opened.
      proxy.resume();
      await pollUntil(
        () => pool.stats().idle,
        (idle) => idle === 1,
        10_000,
      );
      await pool.query('select 1');
      expect(pool.stats()).toMatchObject({ created: 1, borrowed: 0 });
    } finally {
      proxy.resume();
      await pool.close({ timeoutMillis: 5_000 });
      await proxy.close();
    }
  });
});
