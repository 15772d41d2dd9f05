import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConnectError, PoolExhaustedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { codeOf, expectHealthy, type FaultPool, faultPool } from './support/fault-kit.js';
import { type ProcessErrorWatch, pollUntil, settle, watchProcessErrors } from './support/pool-test-kit.js';

/**
 * Out of connection slots. The server is shared with test files running in parallel, so instead of filling
 * `max_connections` this file gives a role of its own `CONNECTION LIMIT 2` and takes those two slots with plain
 * pg clients: the server then answers the pool's attempts with SQLSTATE 53300 (too many connections for role),
 * the same code a full server gives.
 */

const LIMIT = 2;
const ACQUIRE_TIMEOUT_MILLIS = 2_000;
const SLACK_MILLIS = 2_000;

/** The typed error an acquire gets when every attempt met 53300. */
function expectSlotsExhausted(err: unknown): void {
  expect(err instanceof ConnectError || err instanceof PoolExhaustedError).toBe(true);
  expect(codeOf((err as Error).cause)).toBe('53300');
}

describe('fault: no connection slots left on the server', () => {
  let db: TestDatabase;
  let role: string;
  let password: string;
  let fp: FaultPool | undefined;
  const squatters: pg.Client[] = [];
  let watch: ProcessErrorWatch;

  beforeAll(async () => {
    db = await createTestDatabase();
    role = `r_${randomBytes(6).toString('hex')}`;
    password = randomBytes(12).toString('hex');
    // Identifiers cannot be bound: the role name is ours (hex), the password goes in as a literal.
    await db.admin(`create role ${role} login password '${password}' connection limit ${LIMIT} nosuperuser`);
    await db.admin(`grant usage, create on schema public to ${role}`);
  });

  afterAll(async () => {
    await db?.drop();
    if (role) {
      const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
      await admin.connect();
      try {
        await admin.query(`drop role if exists ${role}`);
      } finally {
        await admin.end();
      }
    }
  });

  afterEach(async () => {
    watch?.stop();
    await Promise.all(squatters.splice(0).map((client) => client.end().catch(() => undefined)));
    await fp?.pool.close({ timeoutMillis: 5_000 });
    fp = undefined;
  });

  function roleConfig() {
    return { ...db.config, user: role, password };
  }

  /** Takes `n` of the role's slots with plain pg clients. */
  async function squat(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const client = new pg.Client({ ...roleConfig(), application_name: 'squatter' });
      client.on('error', () => {
        // Ended by the test; nothing to report.
      });
      await client.connect();
      squatters.push(client);
    }
  }

  /** A pool of `max` 4 that logs in as the limited role. */
  function rolePool(): FaultPool {
    watch = watchProcessErrors();
    return faultPool(db, undefined, {
      user: role,
      password,
      max: 4,
      acquireTimeoutMillis: ACQUIRE_TIMEOUT_MILLIS,
      connectTimeoutMillis: 1_000,
    });
  }

  it('all slots taken: a typed error with cause 53300 within the acquire timeout', async () => {
    fp = rolePool();
    await squat(LIMIT);
    const outcome = await settle(fp.pool.query('select 1'));
    expect(outcome.ok).toBe(false);
    expectSlotsExhausted(outcome.ok ? undefined : outcome.error);
    expect(outcome.millis).toBeLessThan(ACQUIRE_TIMEOUT_MILLIS + SLACK_MILLIS);
    const attempts = fp.log.withEvent('pool.connectError');
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    // Paced, not a loop: a few attempts in two seconds.
    expect(attempts.length).toBeLessThanOrEqual(15);
    expect(attempts.every((line) => line.code === '53300')).toBe(true);
    expect(fp.pool.stats()).toMatchObject({ borrowed: 0, waiting: 0 });

    // The slots free up: the pool recovers. Both go, and the test waits until the server has no backend of
    // the role left: a backend that is still exiting (the squatter's, or one of the pool's refused attempts)
    // counts against the limit, and with one slot free a new attempt could keep meeting it.
    await Promise.all(squatters.splice(0).map((client) => client.end()));
    expect(
      await pollUntil(
        async () => {
          const { rows } = await db.admin(
            'select count(*)::int as n from pg_stat_activity where usename = $1',
            [role],
          );
          return (rows[0] as { n: number }).n;
        },
        (n) => n === 0,
        10_000,
      ),
    ).toBe(0);
    // After a run of refused attempts the pool paces its next ones (up to 2 s apart): a caller whose 2 s wait
    // falls before the next attempt can still fail, so recovery is asked of it within a few of those steps.
    const recovered = await pollUntil(
      async () => (await settle(fp?.pool.query('select 1') ?? Promise.reject(new Error('no pool')))).ok,
      (ok) => ok,
      10_000,
    );
    expect(recovered).toBe(true);
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  });

  it('a slot freed while callers wait: they get connections within their timeout', async () => {
    fp = rolePool();
    await squat(LIMIT);
    const pool = fp.pool;
    const waiting = Array.from({ length: 5 }, (_, i) =>
      settle(pool.query<{ i: number }>('select $1::int as i', [i])),
    );
    // Let the first attempts meet the limit, then free one slot.
    const deadline = performance.now() + 5_000;
    while (fp.log.withEvent('pool.connectError').length === 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(fp.log.withEvent('pool.connectError').length).toBeGreaterThan(0);
    await squatters.shift()?.end();
    const outcomes = await Promise.all(waiting);
    expect(outcomes.map((o) => (o.ok ? o.value.rows[0]?.i : o.error))).toEqual([0, 1, 2, 3, 4]);
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  });
});
