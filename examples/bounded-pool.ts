/**
 * The bounded pool — like the classic Python `async with` pool of three connections, which raises "Connection pool exhausted" when
 * its three connections are taken. pg-scope has the same fail-fast mode (`acquireTimeoutMillis: 0`), a waiting
 * mode with a deadline, and a bound on the waiting line; all three reject with `PoolExhaustedError`, whose
 * `reason` says which. Run it: `npm run example bounded-pool`.
 */
import { createPool, PoolExhaustedError, type PoolExhaustedReason } from '../src/index.js'; // in your project: from 'pg-scope'

/** What a web handler might do with an exhausted pool: shed load with 503 and say when to come back. */
function toHttpStatus(error: unknown): { status: number; retryAfterSeconds?: number } {
  if (error instanceof PoolExhaustedError) {
    return { status: 503, retryAfterSeconds: error.reason === 'no-wait' ? 1 : 5 };
  }
  return { status: 500 };
}

export async function main(connectionString: string) {
  const reasons: PoolExhaustedReason[] = [];

  // Fail fast: three connections at most, and nobody waits for a borrowed one.
  {
    await using pool = createPool({ connectionString, max: 3, acquireTimeoutMillis: 0 });
    await using a = await pool.acquire();
    await using b = await pool.acquire();
    await using c = await pool.acquire();
    await Promise.all([a.query('select 1'), b.query('select 1'), c.query('select 1')]);
    try {
      await pool.acquire(async (conn) => conn.query('select 1'));
    } catch (error) {
      if (!(error instanceof PoolExhaustedError)) throw error;
      reasons.push(error.reason);
      console.log(`4th acquire: ${error.message}`);
      console.log(`  code ${error.code}, reason ${error.reason}, waited ${error.waitedMillis.toFixed(1)} ms`);
      console.log(`  as a web handler would answer: ${JSON.stringify(toHttpStatus(error))}`);
    }
  }

  // Waiting: callers queue in FIFO order for up to acquireTimeoutMillis; at most maxWaiting of them.
  await using pool = createPool({ connectionString, max: 1, acquireTimeoutMillis: 250, maxWaiting: 1 });
  await using holder = await pool.acquire();
  await holder.query('select 1');

  const waiter = pool.acquire(async (conn) => conn.query('select 1'));
  try {
    await pool.acquire(async (conn) => conn.query('select 1'));
  } catch (error) {
    if (!(error instanceof PoolExhaustedError)) throw error;
    reasons.push(error.reason);
    console.log(`beyond maxWaiting: ${error.message}`);
  }
  try {
    await waiter;
  } catch (error) {
    if (!(error instanceof PoolExhaustedError)) throw error;
    reasons.push(error.reason);
    console.log(`after waiting: ${error.message}`);
    console.log(`  the error carries a stats snapshot: ${JSON.stringify(error.stats)}`);
  }

  // One acquire may wait less (or more) than the pool's default, and can be cancelled with an AbortSignal.
  const quick = await pool
    .acquire(async (conn) => conn.query('select 1'), {
      timeoutMillis: 50,
      signal: AbortSignal.timeout(1_000),
    })
    .catch((error: unknown) => error);
  if (quick instanceof PoolExhaustedError) reasons.push(quick.reason);

  return { reasons, exhausted: pool.stats().exhausted };
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
