import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CommitUnknownError,
  ConnectError,
  createPool,
  isRetryable,
  LogEvent,
  type Pool,
  PoolExhaustedError,
} from '../src/index.js';
import { codeOf } from './support/fault-kit.js';
import { type OwnServer, startOwnServer } from './support/own-server.js';
import {
  appName,
  type CapturedLog,
  captureLog,
  type ProcessErrorWatch,
  pollUntil,
  type Settled,
  settle,
  watchProcessErrors,
} from './support/pool-test-kit.js';

const MAX = 5;
const WORKERS = 8;
const ACQUIRE_TIMEOUT_MILLIS = 8_000;
/** How long the server stays down between the end of its shutdown and the start of its restart. */
const DOWN_MILLIS = 1_000;
/** Every call settles within its acquire timeout plus scheduling slack on a loaded machine. */
const SETTLE_BOUND_MILLIS = ACQUIRE_TIMEOUT_MILLIS + 4_000;
/**
 * After the server is back, the pool's next attempt comes after its current backoff (at most 2 s, +20% jitter),
 * then a connection and a short transaction: a caller whose deadline is this much later must succeed.
 */
const RIDE_OUT_MARGIN_MILLIS = 3_000;
/** Commits before the stop, so the stop hits a pool under load with all its connections open. */
const WARM_UP_COMMITS = 40;
/** Commits after the restart before the load stops, so the restarted server is shown to take the load. */
const COMMITS_AFTER_RESTART = 20;
/**
 * Counted from the restart: the load must have reached {@link COMMITS_AFTER_RESTART} within half of it, and every
 * call (workers and probes) must have settled within all of it (an acquire timeout plus slack after the load
 * stops). With the warm-up and the restart it keeps the test well inside its 30 s.
 */
const LOAD_DEADLINE_MILLIS = 15_000;

/** One transaction of the load: which id it inserted, when it was asked for, how it ended. */
interface Call {
  readonly id: string;
  readonly who: 'worker' | 'probe';
  readonly arrivedAt: number;
  readonly outcome: Settled<string>;
}

/** The kinds of failure this scenario allows, by what the caller can do with them. */
type FailureKind = 'connection lost' | 'connect failed' | 'pool exhausted' | 'commit unknown';

/**
 * A failure must be typed: pg's connection-loss error (retryable), `ConnectError` or `PoolExhaustedError` whose
 * cause is a connection failure a retry can fix, or `CommitUnknownError` (caused by a connection loss). Anything
 * else is described in a string, for the test to fail with.
 */
function failureKind(err: unknown): FailureKind | string {
  if (err instanceof CommitUnknownError) {
    return isRetryable(err.cause) ? 'commit unknown' : `CommitUnknownError caused by ${String(err.cause)}`;
  }
  if (err instanceof ConnectError || err instanceof PoolExhaustedError) {
    if (!(err.cause instanceof Error) || !isRetryable(err.cause)) {
      return `${err.name} without a connection failure as its cause: ${err.message} (cause ${String(err.cause)})`;
    }
    return err instanceof ConnectError ? 'connect failed' : 'pool exhausted';
  }
  return isRetryable(err) ? 'connection lost' : `not a connection loss: ${String(err)} (code ${codeOf(err)})`;
}

const KINDS: readonly string[] = ['connection lost', 'connect failed', 'pool exhausted', 'commit unknown'];

/**
 * PostgreSQL restarted under load (a fast shutdown, down for a second, started again on the same port and data
 * directory), on a server of the test's own: every call settles with a success or a typed error, callers that
 * arrive while it is down ride the restart out (rule 10), no idle connection from before reaches a caller
 * (rule 8), never more than `max` sessions (rule 9), and what was reported committed is stored exactly once.
 */
describe('fault: PostgreSQL restarted during load', () => {
  let server: OwnServer | undefined;
  const pools: Pool[] = [];
  let watch: ProcessErrorWatch | undefined;
  /** Set by the test: ends its load loop and session sampler, also when the test failed half-way. */
  let stopBackground = async (): Promise<void> => {};

  /** Runs one statement as the superuser on a connection of its own to the test's server. */
  async function admin<R extends pg.QueryResultRow>(
    sql: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    const own = server as OwnServer;
    const client = new pg.Client({
      host: own.host,
      port: own.port,
      user: own.user,
      password: own.password,
      database: 'postgres',
      application_name: 'restart-admin',
      connectionTimeoutMillis: 2_000,
    });
    client.on('error', () => {
      // A session of the test's own; when the server goes away its query (or connect) rejects, which is enough.
    });
    try {
      await client.connect();
      return await client.query<R>(sql, values);
    } finally {
      await client.end().catch(() => {
        // Already gone with the server.
      });
    }
  }

  /** The sessions of `app` on the test's server, as `pg_stat_activity` counts them. */
  async function sessions(app: string): Promise<number> {
    const { rows } = await admin<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
        where backend_type = 'client backend' and application_name = $1`,
      [app],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Samples the sessions of `apps` every 100 ms while the test runs (a sample that cannot reach the server is
   * skipped), so rule 9 is checked during the restart, not only after it. `stop()` resolves with the maxima.
   */
  function sampleSessions(apps: string[]): { stop(): Promise<Map<string, number>> } {
    const maxima = new Map(apps.map((app) => [app, 0]));
    let sampling = true;
    const loop = (async () => {
      while (sampling) {
        try {
          const { rows } = await admin<{ app: string; n: number }>(
            `select application_name as app, count(*)::int as n from pg_stat_activity
              where backend_type = 'client backend' and application_name = any($1) group by 1`,
            [apps],
          );
          for (const { app, n } of rows) maxima.set(app, Math.max(maxima.get(app) ?? 0, n));
        } catch {
          // The server is down or shutting down: nothing to count.
        }
        await sleep(100);
      }
    })();
    return {
      stop: async () => {
        sampling = false;
        await loop;
        return maxima;
      },
    };
  }

  function ownPool(app: string, log: CapturedLog): Pool {
    const own = server as OwnServer;
    const pool = createPool({
      host: own.host,
      port: own.port,
      user: own.user,
      password: own.password,
      database: 'postgres',
      application_name: app,
      logger: log.logger,
      max: MAX,
      acquireTimeoutMillis: ACQUIRE_TIMEOUT_MILLIS,
      connectTimeoutMillis: 2_000,
    });
    pools.push(pool);
    return pool;
  }

  beforeAll(async () => {
    // A server of this test's own, whatever server (or DATABASE_URL) the rest of the run uses: it is restarted.
    server = await startOwnServer();
    await admin('create table writes (id uuid not null, who text not null)');
    await admin('create table health_check (marker text primary key)');
  }, 120_000);

  afterAll(async () => {
    watch?.stop();
    try {
      await stopBackground();
      await Promise.allSettled(pools.map((pool) => pool.close({ timeoutMillis: 2_000 })));
    } finally {
      await server?.destroy();
    }
  }, 60_000);

  it('every call settles typed, a short restart is ridden out, and the pool is healthy afterwards', async () => {
    const own = server as OwnServer;
    watch = watchProcessErrors();
    const app = appName('restart');
    const log = captureLog('warn');
    const pool = ownPool(app, log);
    // A second pool that only holds idle connections across the restart (rule 8).
    const idleApp = appName('restart-idle');
    const idlePool = ownPool(idleApp, captureLog('warn'));
    const sampler = sampleSessions([app, idleApp]);

    const calls: Call[] = [];
    const call = async (who: Call['who']): Promise<Call> => {
      const id = randomUUID();
      const arrivedAt = performance.now();
      const outcome = await settle(
        pool.transaction(async (tx) => {
          await tx.query('insert into writes (id, who) values ($1, $2)', [id, who]);
          // Keeps transactions open a moment, so the shutdown finds them in every phase.
          await tx.query('select pg_sleep(0.002)');
          return id;
        }),
      );
      const done: Call = { id, who, arrivedAt, outcome };
      calls.push(done);
      return done;
    };
    const committedSince = (since: number) =>
      calls.filter((c) => c.outcome.ok && c.arrivedAt >= since).length;

    let loading = true;
    const workers = Array.from({ length: WORKERS }, async () => {
      while (loading) {
        await call('worker');
        await sleep(5);
      }
    });
    stopBackground = async () => {
      loading = false;
      await sampler.stop();
    };

    // Five idle connections in the idle pool, opened before the restart: all five held at once, then returned.
    let held = 0;
    let allHeld = (): void => {};
    const allHeldNow = new Promise<void>((resolve) => {
      allHeld = resolve;
    });
    await Promise.all(
      Array.from({ length: MAX }, () =>
        idlePool.acquire(async (conn) => {
          await conn.query('select 1');
          if (++held === MAX) allHeld();
          await allHeldNow;
        }),
      ),
    );
    expect(idlePool.stats().idle).toBe(MAX);
    const idleCreatedBefore = idlePool.stats().created;

    expect(
      await pollUntil(
        () => committedSince(0),
        (n) => n >= WARM_UP_COMMITS,
        10_000,
      ),
    ).toBeGreaterThanOrEqual(WARM_UP_COMMITS);

    // Fast shutdown under load: open transactions are rolled back, every session is terminated.
    const stopCalledAt = performance.now();
    await own.stop();
    const stoppedAt = performance.now();
    // Callers arriving while nothing listens: they wait, and the pool keeps trying (paced) for them.
    const probes = [call('probe')];
    await sleep(DOWN_MILLIS / 2);
    probes.push(call('probe'));
    await sleep(DOWN_MILLIS / 2);
    probes.push(call('probe'));
    const restartCalledAt = performance.now();
    await own.start();
    const restartedAt = performance.now();

    // Rule 8: the idle pool's connections all died in the shutdown; none reaches a caller.
    const idleQueries: Settled<unknown>[] = [];
    for (let i = 0; i < 10; i++) idleQueries.push(await settle(idlePool.query('select 1 as one')));
    expect(
      idleQueries.filter((q) => !q.ok).map((q) => String((q as { error: unknown }).error)),
      'idle connections from before the restart reached a caller',
    ).toEqual([]);
    expect(idlePool.stats().destroyed).toBeGreaterThanOrEqual(MAX);
    expect(idlePool.stats().created).toBeGreaterThan(idleCreatedBefore);

    // The load goes on against the restarted server for a while, then stops.
    await pollUntil(
      () => committedSince(restartedAt),
      (n) => n >= COMMITS_AFTER_RESTART && performance.now() - restartedAt >= 1_500,
      LOAD_DEADLINE_MILLIS / 2,
    );
    loading = false;
    expect(committedSince(restartedAt)).toBeGreaterThanOrEqual(COMMITS_AFTER_RESTART);
    const allSettled = Promise.all([...workers, ...probes]).then(() => true);
    const settledInTime = await Promise.race([
      allSettled,
      sleep(Math.max(0, restartedAt + LOAD_DEADLINE_MILLIS - performance.now()), false, { ref: false }),
    ]);
    expect(settledInTime, 'some calls never settled').toBe(true);

    // Every outcome: a success or a typed error, within the bound.
    const committed = new Set<string>();
    const unknown = new Set<string>();
    const failed = new Set<string>();
    const kinds: Record<FailureKind, number> = {
      'connection lost': 0,
      'connect failed': 0,
      'pool exhausted': 0,
      'commit unknown': 0,
    };
    const untyped: string[] = [];
    let maxSettleMillis = 0;
    for (const { id, outcome } of calls) {
      maxSettleMillis = Math.max(maxSettleMillis, outcome.millis);
      if (outcome.ok) {
        committed.add(id);
        continue;
      }
      const kind = failureKind(outcome.error);
      if (!KINDS.includes(kind)) {
        untyped.push(kind);
        failed.add(id);
        continue;
      }
      kinds[kind as FailureKind]++;
      (kind === 'commit unknown' ? unknown : failed).add(id);
    }
    const arrivedWhileDown = calls.filter((c) => c.arrivedAt >= stoppedAt && c.arrivedAt < restartedAt);
    const mustRideOut = arrivedWhileDown.filter(
      (c) => c.arrivedAt + ACQUIRE_TIMEOUT_MILLIS >= restartedAt + RIDE_OUT_MARGIN_MILLIS,
    );
    const afterRestart = calls.filter((c) => c.outcome.ok && c.arrivedAt >= restartedAt).length;
    console.log(
      `server restart under load: ${calls.length} calls (${probes.length} probes while down), ` +
        `${committed.size} committed (${afterRestart} arrived after the restart), failed: ` +
        `${kinds['connection lost']} connection lost, ${kinds['connect failed']} connect failed, ` +
        `${kinds['pool exhausted']} pool exhausted, ${kinds['commit unknown']} commit unknown, ` +
        `${untyped.length} untyped; ${arrivedWhileDown.length} callers arrived while down ` +
        `(${mustRideOut.length} with a deadline past the restart); max settle ${Math.round(maxSettleMillis)} ms; ` +
        `shutdown ${Math.round(stoppedAt - stopCalledAt)} ms, restart ${Math.round(restartedAt - restartCalledAt)} ms`,
    );
    expect(untyped).toEqual([]);
    for (const { outcome } of calls) expect(outcome.millis).toBeLessThan(SETTLE_BOUND_MILLIS);

    // Rule 10: whoever arrived while the server was down, with a deadline that outlasted the restart, got
    // a connection once it was back.
    expect(
      mustRideOut.length,
      `no caller could ride the restart out: the restart took ${Math.round(restartedAt - restartCalledAt)} ms`,
    ).toBeGreaterThan(0);
    for (const c of mustRideOut) {
      expect(
        c.outcome.ok,
        `arrived ${Math.round(c.arrivedAt - stoppedAt)} ms into the outage: ${
          c.outcome.ok ? '' : String(c.outcome.error)
        }`,
      ).toBe(true);
    }

    // What succeeded is stored exactly once; what failed is not; nothing else is there.
    const { rows } = await pool.query<{ id: string; n: number }>(
      'select id::text as id, count(*)::int as n from writes group by id',
    );
    const stored = new Map(rows.map((row) => [row.id, row.n]));
    for (const id of committed) expect(stored.get(id), `committed ${id}`).toBe(1);
    for (const id of failed) expect(stored.has(id), `failed ${id}`).toBe(false);
    for (const [id, n] of stored) {
      expect(committed.has(id) || unknown.has(id), `stored but not reported committed: ${id}`).toBe(true);
      expect(n).toBe(1);
    }

    // Rule 8 on the loaded pool too: sequential queries on whatever it kept.
    for (let i = 0; i < 10; i++) expect((await pool.query('select 1 as one')).rows).toEqual([{ one: 1 }]);

    // Healthy afterwards: nothing borrowed, at most `max` sessions, a new transaction commits.
    expect(
      await pollUntil(
        () => pool.stats().borrowed,
        (n) => n === 0,
        10_000,
      ),
    ).toBe(0);
    const marker = `healthy-${randomUUID()}`;
    await pool.transaction(async (tx) => {
      await tx.query('insert into health_check (marker) values ($1)', [marker]);
    });
    expect((await admin('select 1 from health_check where marker = $1', [marker])).rowCount).toBe(1);
    expect(pool.stats().borrowed).toBe(0);
    expect(await sessions(app)).toBeLessThanOrEqual(MAX);
    expect(await sessions(idleApp)).toBeLessThanOrEqual(MAX);
    const maxSessions = await sampler.stop();
    expect(maxSessions.get(app)).toBeLessThanOrEqual(MAX);
    expect(maxSessions.get(idleApp)).toBeLessThanOrEqual(MAX);

    // Attempts while the server could not be reached are paced: a few per second, not a busy loop.
    const unreachableSeconds = (restartedAt - stopCalledAt) / 1_000;
    const attempts = log.withEvent(LogEvent.connectError).length;
    expect(attempts).toBeLessThanOrEqual(Math.ceil(10 * unreachableSeconds) + 10);

    // Nothing crashed or went unhandled (a moment for late events to arrive).
    await sleep(200);
    expect(watch.errors.map(String)).toEqual([]);

    console.log(
      `after the restart: ${attempts} failed connection attempts; max sessions ${maxSessions.get(app)}/${MAX} ` +
        `(idle pool ${maxSessions.get(idleApp)}/${MAX}); idle pool ${idlePool.stats().destroyed} destroyed, ` +
        `${idlePool.stats().created} created`,
    );
  }, 30_000);
});
