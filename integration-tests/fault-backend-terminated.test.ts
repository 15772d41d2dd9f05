import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isRetryable } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import {
  backendPid,
  codeOf,
  expectHealthy,
  type FaultPool,
  faultPool,
  sessionPids,
  terminate,
} from './support/fault-kit.js';
import { type ProcessErrorWatch, pollUntil, settle, watchProcessErrors } from './support/pool-test-kit.js';

/** A connection-loss error as pg reports it for a terminated backend: 57P01, or the socket closing first. */
function expectConnectionLoss(err: unknown): void {
  expect(err).toBeInstanceOf(Error);
  const code = codeOf(err);
  if (code !== undefined) expect(code).toBe('57P01');
  else expect((err as Error).message).toMatch(/^Connection terminated/);
  expect(isRetryable(err)).toBe(true);
}

/** Polls until the session `pid` is visible as running `query` (so a kill lands mid-statement). */
async function waitUntilRunning(db: TestDatabase, pid: number, query: string): Promise<void> {
  const seen = await pollUntil(
    async () => {
      const { rows } = await db.admin('select state, query from pg_stat_activity where pid = $1', [pid]);
      const row = rows[0] as { state: string; query: string } | undefined;
      return row?.state === 'active' && row.query.includes(query);
    },
    (running) => running,
    10_000,
  );
  expect(seen).toBe(true);
}

describe('fault: backend terminated', () => {
  let db: TestDatabase;
  let fp: FaultPool | undefined;
  let watch: ProcessErrorWatch;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key, note text)');
  });

  afterAll(async () => {
    await db?.drop();
  });

  afterEach(async () => {
    watch?.stop();
    await fp?.pool.close({ timeoutMillis: 5_000 });
    fp = undefined;
  });

  it('while idle: the broken connection is removed and the next acquire gets a fresh one', async () => {
    watch = watchProcessErrors();
    fp = faultPool(db, undefined, { max: 3 });
    const pool = fp.pool;
    const pid = await pool.acquire((conn) => backendPid((sql) => conn.query(sql)));
    expect(pool.stats()).toMatchObject({ idle: 1, borrowed: 0 });

    await terminate(db, [pid]);
    // The idle client hears of it asynchronously; the pool logs the error and keeps the process alive.
    const errors = await pollUntil(
      () => fp?.log.withEvent('conn.error').length ?? 0,
      (n) => n >= 1,
      10_000,
    );
    expect(errors).toBe(1);

    const next = await pool.acquire((conn) => backendPid((sql) => conn.query(sql)));
    expect(next).not.toBe(pid);
    expect(pool.stats().destroyed).toBe(1);
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  });

  it('while idle, before the client noticed: the next acquire does not see the dead connection', async () => {
    watch = watchProcessErrors();
    fp = faultPool(db, undefined, { max: 2 });
    const pool = fp.pool;
    const pid = await pool.acquire((conn) => backendPid((sql) => conn.query(sql)));
    // No waiting for the client to hear of it: an acquire right after the kill may get the connection while
    // its socket is closing. Rule 8 says the error must not reach this caller through the pool's own paths;
    // what it may see is a query failing with the connection loss if the news arrives after the handoff.
    await terminate(db, [pid]);
    const outcome = await settle(pool.query<{ ok: number }>('select 1 as ok'));
    if (!outcome.ok) expectConnectionLoss(outcome.error);
    else expect(outcome.value.rows).toEqual([{ ok: 1 }]);
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  });

  it('while a transaction query runs: rejects with the connection loss, destroys the connection', async () => {
    watch = watchProcessErrors();
    fp = faultPool(db, undefined, { max: 3 });
    const pool = fp.pool;
    let pid = 0;
    const pending = settle(
      pool.transaction(async (tx) => {
        pid = await backendPid((sql) => tx.query(sql));
        await tx.query("insert into items values (1, 'lost')");
        await tx.query('select pg_sleep(30) as fault_sleep');
      }),
    );
    await pollUntil(
      () => pid,
      (p) => p !== 0,
      10_000,
    );
    await waitUntilRunning(db, pid, 'fault_sleep');
    await terminate(db, [pid]);
    const outcome = await pending;
    expect(outcome.ok).toBe(false);
    expectConnectionLoss(outcome.ok ? undefined : outcome.error);
    expect(outcome.millis).toBeLessThan(15_000);

    expect(
      await pollUntil(
        () => pool.stats().destroyed,
        (n) => n >= 1,
        5_000,
      ),
    ).toBe(1);
    const { rows } = await pool.query('select count(*)::int as n from items where id = 1');
    expect(rows[0]).toEqual({ n: 0 });
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  });

  it('while an acquire scope query runs: the scope rejects with it and the connection is not reused', async () => {
    watch = watchProcessErrors();
    fp = faultPool(db, undefined, { max: 2 });
    const pool = fp.pool;
    let pid = 0;
    const pending = settle(
      pool.acquire(async (conn) => {
        pid = await backendPid((sql) => conn.query(sql));
        await conn.query('select pg_sleep(30) as fault_sleep_acquire');
      }),
    );
    await pollUntil(
      () => pid,
      (p) => p !== 0,
      10_000,
    );
    await waitUntilRunning(db, pid, 'fault_sleep_acquire');
    await terminate(db, [pid]);
    const outcome = await pending;
    expect(outcome.ok).toBe(false);
    expectConnectionLoss(outcome.ok ? undefined : outcome.error);

    const next = await pool.acquire((conn) => backendPid((sql) => conn.query(sql)));
    expect(next).not.toBe(pid);
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  });

  it('with retry: a transaction whose backend is killed before COMMIT runs again and commits once', async () => {
    watch = watchProcessErrors();
    fp = faultPool(db, undefined, { max: 2 });
    const pool = fp.pool;
    let attempts = 0;
    const value = await pool.transaction(
      async (tx) => {
        attempts++;
        const pid = await backendPid((sql) => tx.query(sql));
        await tx.query("insert into items values (2, 'retried')");
        if (attempts === 1) {
          await terminate(db, [pid]);
          // The kill is seen by the next statement (or the socket closing under it).
          await tx.query('select pg_sleep(5)');
        }
        return attempts;
      },
      { retry: { maxAttempts: 3, baseDelayMillis: 10 } },
    );
    expect(value).toBe(2);
    const { rows } = await pool.query('select count(*)::int as n from items where id = 2');
    expect(rows[0]).toEqual({ n: 1 });
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  });

  it('all sessions killed while idle: each next caller gets a working connection', async () => {
    watch = watchProcessErrors();
    fp = faultPool(db, undefined, { max: 4 });
    const pool = fp.pool;
    await Promise.all(Array.from({ length: 4 }, () => pool.query('select pg_sleep(0.05)')));
    const pids = await sessionPids(db, fp.app);
    expect(pids.length).toBeGreaterThan(0);
    await terminate(db, pids);
    await pollUntil(
      () => fp?.log.withEvent('conn.error').length ?? 0,
      (n) => n >= pids.length,
      10_000,
    );
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => pool.query<{ i: number }>('select $1::int as i', [i])),
    );
    expect(results.map((r) => r.rows[0]?.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  });
});
