import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connection, PoolExhaustedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs } from './setup/log-capture.js';
import { poolFor } from './support/tx-support.js';

/** Acquires from a function of its own, so its name shows in the acquirer's stack. */
function forgottenHandleAcquirer(pool: {
  acquire(options?: { timeoutMillis?: number }): Promise<Connection>;
}): Promise<Connection> {
  // Its own bound: opening the connection (a container's server, a loaded machine) may outlast the pool's.
  return pool.acquire({ timeoutMillis: 10_000 });
}

/**
 * A pool full of forgotten handles says so: the exhaustion error's message and `stats()` tell how long the
 * oldest borrow has lasted, and with leak detection on the error carries that acquirer's stack.
 */
describe('the exhaustion error names the longest borrow', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('message, stats and error fields; no stack without leak detection', async () => {
    await using pool = poolFor(db, { max: 2, acquireTimeoutMillis: 0 });
    expect(pool.stats().longestBorrowMillis).toBe(0);
    await using first = await forgottenHandleAcquirer(pool);
    await first.query('select 1');
    await sleep(300);
    const secondAskedAt = performance.now();
    await using second = await pool.acquire();
    await second.query('select 1');
    expect(pool.stats().longestBorrowMillis).toBeGreaterThanOrEqual(300);

    const err = await pool.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PoolExhaustedError);
    const exhausted = err as PoolExhaustedError;
    expect(exhausted.message).toMatch(
      new RegExp(
        `^pool exhausted: 2/2 connections in use, .*; the longest borrow has lasted \\d+ ms \\(scope ${first.scopeId}\\)$`,
      ),
    );
    expect(exhausted.stats.longestBorrowMillis).toBeGreaterThanOrEqual(300);
    expect(exhausted.longestBorrowScopeId).toBe(first.scopeId);
    expect(exhausted.longestBorrowStack).toBeUndefined();

    await first.release();
    // Now the longest is the second's, which began after secondAskedAt (the first's is ≥ 300 ms longer).
    expect(pool.stats().longestBorrowMillis).toBeLessThanOrEqual(performance.now() - secondAskedAt + 1);
    await second.release();
    expect(pool.stats().longestBorrowMillis).toBe(0);
  });

  it("with leakDetectionMillis > 0, the error and its log line carry the longest borrower's acquire stack", async () => {
    const capture = captureLogs('warn');
    await using pool = poolFor(db, {
      max: 1,
      acquireTimeoutMillis: 50,
      leakDetectionMillis: 60_000,
      logger: capture.logger,
    });
    await using held = await forgottenHandleAcquirer(pool);
    await held.query('select 1');
    const err = (await pool.acquire().catch((e: unknown) => e)) as PoolExhaustedError;
    expect(err).toBeInstanceOf(PoolExhaustedError);
    expect(err.reason).toBe('timeout');
    expect(err.message).toContain(`(scope ${held.scopeId})`);
    expect(err.longestBorrowStack).toContain('forgottenHandleAcquirer');
    // Shown where errors are printed: JSON.stringify and util.inspect.
    expect(JSON.parse(JSON.stringify(err)).longestBorrowStack).toContain('forgottenHandleAcquirer');
    const line = await capture.waitFor('pool.exhausted');
    expect(line.longestBorrowScopeId).toBe(held.scopeId);
    expect(line.longestBorrowStack).toContain('forgottenHandleAcquirer');
  });
});
