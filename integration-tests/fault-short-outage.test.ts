import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../src/index.js';
import { type OwnServer, startOwnServer } from './support/own-server.js';
import { captureLog, type Settled, settle } from './support/pool-test-kit.js';

const ACQUIRE_TIMEOUT_MILLIS = 3_000;
/** How long the server is gone for, counted from the caller's arrival to the moment it accepts connections. */
const OUTAGE_MILLIS = 1_600;
/** An outage that ends at least this long before the caller's deadline must be ridden out. */
const MARGIN_MILLIS = 500;
const RUNS = 10;
/** Runs whose restart took too long to count (a loaded machine) are repeated, up to this many in all. */
const MAX_TRIES = 14;

/**
 * A caller that arrives as the server goes down, with a 3 s acquire timeout, gets a connection when the server
 * is back 1.6 s later: the pool's backoff (up to 2 s between attempts) schedules its last attempt before the
 * caller's deadline instead of jumping past it. On a server of the test's own, restarted ten times.
 */
describe('fault: a short outage ends before the acquire deadline', () => {
  let server: OwnServer | undefined;
  let pool: Pool | undefined;

  beforeAll(async () => {
    server = await startOwnServer();
  }, 120_000);

  afterAll(async () => {
    try {
      await pool?.close({ timeoutMillis: 2_000 });
    } finally {
      await server?.destroy();
    }
  }, 60_000);

  it('a 1.6 s restart under a 3 s acquire timeout is ridden out, 10 of 10 times', async () => {
    const own = server as OwnServer;
    pool = createPool({
      host: own.host,
      port: own.port,
      user: own.user,
      password: own.password,
      database: 'postgres',
      logger: captureLog('warn').logger,
      max: 2,
      acquireTimeoutMillis: ACQUIRE_TIMEOUT_MILLIS,
      connectTimeoutMillis: 2_000,
    });
    const p = pool;
    // How long start() takes, so the server can be asked to start that long before the outage should end.
    let startMillis = 0;
    {
      await own.stop();
      const t = performance.now();
      await own.start();
      startMillis = performance.now() - t;
    }
    const runs: { outageMillis: number; outcome: Settled<unknown> }[] = [];
    let counted = 0;
    for (let tries = 0; counted < RUNS && tries < MAX_TRIES; tries++) {
      // A healthy pool with an open connection before each outage.
      expect((await p.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      await own.stop();
      const arrivedAt = performance.now();
      const call = settle(p.transaction((tx) => tx.query('select 1 as one')));
      await sleep(Math.max(0, OUTAGE_MILLIS - startMillis));
      const startAt = performance.now();
      await own.start();
      const upAt = performance.now();
      startMillis = upAt - startAt;
      const outcome = await call;
      const outageMillis = upAt - arrivedAt;
      runs.push({ outageMillis, outcome });
      if (outageMillis <= ACQUIRE_TIMEOUT_MILLIS - MARGIN_MILLIS) counted++;
    }
    const summary = runs.map(
      (r) =>
        `${Math.round(r.outageMillis)} ms: ${r.outcome.ok ? 'ok' : String((r.outcome as { error: unknown }).error)} after ${Math.round(r.outcome.millis)} ms`,
    );
    console.log(`short outages:\n  ${summary.join('\n  ')}`);
    expect(counted, `restarts that ended ${MARGIN_MILLIS} ms before the deadline`).toBe(RUNS);
    const failed = runs.filter(
      (r) => r.outageMillis <= ACQUIRE_TIMEOUT_MILLIS - MARGIN_MILLIS && !r.outcome.ok,
    );
    expect(failed.length, summary.join('\n')).toBe(0);
  }, 120_000);
});
