import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectError, PoolExhaustedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { codeOf, expectHealthy, type FaultPool, faultPool } from './support/fault-kit.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';
import { type ProcessErrorWatch, pollUntil, settle, watchProcessErrors } from './support/pool-test-kit.js';

const ACQUIRE_TIMEOUT_MILLIS = 2_000;
/** Scheduling slack on a loaded machine. */
const SLACK_MILLIS = 2_000;
/**
 * The pool's backoff (100 ms doubling to 2 s, ±20% jitter) allows about 5 attempts in 2 s; a busy loop would make
 * thousands. The bound leaves room for jitter and for the first attempts of several callers.
 */
const MAX_ATTEMPTS_IN_WINDOW = 15;

/** A refused attempt reaches the pool as a reset or an early close of the socket, both retried. */
function expectTypedConnectFailure(err: unknown): void {
  expect(err instanceof ConnectError || err instanceof PoolExhaustedError).toBe(true);
  const cause = (err as Error).cause;
  expect(cause).toBeInstanceOf(Error);
  const code = codeOf(cause);
  if (code !== undefined) expect(['ECONNRESET', 'ECONNREFUSED', 'EPIPE']).toContain(code);
  else expect((cause as Error).message).toMatch(/^Connection terminated/);
}

/**
 * Waits (at most 10 s) until a query gets through again. After an outage the pool's next attempt may be up to
 * one backoff step (≤ 2.4 s) away, longer than this file's acquire timeout, so the health check starts after
 * the first success rather than racing the backoff on a loaded machine.
 */
async function recovered(fp: FaultPool | undefined): Promise<void> {
  const ok = await pollUntil(
    () =>
      (fp as FaultPool).pool.query('select 1').then(
        () => true,
        () => false,
      ),
    (done) => done,
    10_000,
  );
  expect(ok).toBe(true);
}

describe('fault: the server refuses connections', () => {
  let db: TestDatabase;
  let proxy: FaultProxy;
  let fp: FaultPool | undefined;
  let watch: ProcessErrorWatch;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  afterEach(async () => {
    watch?.stop();
    proxy?.resume();
    await fp?.pool.close({ timeoutMillis: 5_000 });
    fp = undefined;
    await proxy?.close();
  });

  async function setUp(): Promise<FaultPool> {
    watch = watchProcessErrors();
    proxy = await startFaultProxy({ host: db.config.host, port: db.config.port });
    fp = faultPool(db, proxy, {
      max: 4,
      acquireTimeoutMillis: ACQUIRE_TIMEOUT_MILLIS,
      connectTimeoutMillis: 1_000,
    });
    return fp;
  }

  it('one caller: a typed ConnectError within the acquire timeout, after a few paced attempts', async () => {
    const { pool } = await setUp();
    proxy.refuse(true);
    const outcome = await settle(pool.query('select 1'));
    expect(outcome.ok).toBe(false);
    const err = outcome.ok ? undefined : outcome.error;
    expect(err).toBeInstanceOf(ConnectError);
    expectTypedConnectFailure(err);
    expect(outcome.millis).toBeGreaterThanOrEqual(ACQUIRE_TIMEOUT_MILLIS - 50);
    expect(outcome.millis).toBeLessThan(ACQUIRE_TIMEOUT_MILLIS + SLACK_MILLIS);
    console.log(`refused: ${proxy.acceptedCount} attempts in ${Math.round(outcome.millis)} ms`);
    expect(proxy.acceptedCount).toBeGreaterThanOrEqual(2);
    expect(proxy.acceptedCount).toBeLessThanOrEqual(MAX_ATTEMPTS_IN_WINDOW);

    proxy.refuse(false);
    expect(watch.errors).toEqual([]);
    await recovered(fp);
    await expectHealthy(db, fp as FaultPool);
  });

  it('many callers at once: every one rejects typed within its timeout; the attempts stay paced', async () => {
    const { pool } = await setUp();
    proxy.refuse(true);
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => settle(pool.query('select 1'))));
    for (const outcome of outcomes) {
      expect(outcome.ok).toBe(false);
      expectTypedConnectFailure(outcome.ok ? undefined : outcome.error);
      expect(outcome.millis).toBeLessThan(ACQUIRE_TIMEOUT_MILLIS + SLACK_MILLIS);
    }
    console.log(`refused, 50 callers: ${proxy.acceptedCount} attempts`);
    expect(proxy.acceptedCount).toBeLessThanOrEqual(MAX_ATTEMPTS_IN_WINDOW);
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0 });

    proxy.refuse(false);
    expect(watch.errors).toEqual([]);
    await recovered(fp);
    await expectHealthy(db, fp as FaultPool);
  });

  it('a short refusal is ridden out: a caller that waits longer than it gets a connection', async () => {
    const { pool } = await setUp();
    proxy.refuse(true);
    const pending = settle(pool.query<{ ok: number }>('select 1 as ok', []));
    // Let a few attempts fail, then let the server take connections again.
    const deadline = performance.now() + 5_000;
    while (proxy.acceptedCount < 2 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(proxy.acceptedCount).toBeGreaterThanOrEqual(2);
    proxy.refuse(false);
    const outcome = await pending;
    expect(outcome.ok).toBe(true);
    expect(outcome.ok ? outcome.value.rows : undefined).toEqual([{ ok: 1 }]);
    expect(outcome.millis).toBeLessThan(ACQUIRE_TIMEOUT_MILLIS + SLACK_MILLIS);
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp as FaultPool);
  });
});
