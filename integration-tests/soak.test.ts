import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommitUnknownError, isRetryable, LogEvent, type Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { expectHealthy, type FaultPool, faultPool } from './support/fault-kit.js';
import { type ProcessErrorWatch, pollUntil, watchProcessErrors } from './support/pool-test-kit.js';

/**
 * Load and soak, bounded. CI runs the reduced sizes; `npm run soak` (PG_SCOPE_SOAK=full) the full ones:
 *
 * | run  | concurrent callers, pool of 10 | transactions in a loop, a backend killed every 1 000 |
 * |------|--------------------------------|------------------------------------------------------|
 * | CI   | 10 000                         | 20 000                                               |
 * | full | 10 000                         | 200 000                                              |
 */
const FULL = process.env.PG_SCOPE_SOAK === 'full';
const CALLERS = 10_000;
const TRANSACTIONS = FULL ? 200_000 : 20_000;
const KILL_EVERY = 1_000;
const POOL_MAX = 10;
/**
 * Heap growth allowed over the whole loop, measured after a full GC. A leak of even 100 bytes per
 * transaction is 2 MB over the CI run and 20 MB over the full one; what remains after GC in a healthy run is
 * noise (JIT code, pino buffers), well under a few MB.
 */
const HEAP_GROWTH_BOUND_BYTES = FULL ? 12_000_000 : 8_000_000;

/** A full, synchronous GC. vitest workers do not get `--expose-gc`, so the flag is set at run time. */
function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function settledHeap(gc: () => void): Promise<number> {
  // Two rounds: finalizers and weak callbacks queued by the first run before the second.
  for (let i = 0; i < 2; i++) {
    await sleep(50);
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Active handles and requests by type, e.g. { TCPSocketWrap: 10, Timeout: 2 }. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** How many listeners a pg client and its protocol connection have, summed over their events. */
function listenerTotal(client: pg.Client): number {
  const count = (emitter: NodeJS.EventEmitter) =>
    emitter.eventNames().reduce((sum, name) => sum + emitter.listenerCount(name), 0);
  const connection = (client as unknown as { connection?: NodeJS.EventEmitter }).connection;
  return count(client) + (connection ? count(connection) : 0);
}

/** The listener totals of `n` pool connections, borrowed all at once so each is a different one. */
async function listenerTotals(pool: Pool, n: number): Promise<number[]> {
  const totals: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const holders = Array.from({ length: n }, () =>
    pool.acquire(async (conn) => {
      await conn.query('select 1');
      totals.push(listenerTotal(conn.client));
      if (totals.length === n) release();
      await gate;
    }),
  );
  await Promise.all(holders);
  return totals;
}

describe('load and soak', () => {
  let db: TestDatabase;
  let fp: FaultPool | undefined;
  let watch: ProcessErrorWatch;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table counter (id int primary key, n bigint not null)');
    await db.admin('insert into counter select g, 0 from generate_series(1, $1) as g', [POOL_MAX]);
    process.on('warning', onWarning);
  });

  afterAll(async () => {
    process.off('warning', onWarning);
    await db?.drop();
  });

  afterEach(async () => {
    watch?.stop();
    await fp?.pool.close({ timeoutMillis: 5_000 });
    fp = undefined;
  });

  it(`${CALLERS} concurrent callers on a pool of ${POOL_MAX}: all settle, FIFO, heap and handles flat`, async () => {
    watch = watchProcessErrors();
    const gc = collectGarbage();
    fp = faultPool(db, undefined, {
      max: POOL_MAX,
      maxWaiting: CALLERS * 2,
      acquireTimeoutMillis: 120_000,
    });
    const pool = fp.pool;
    // Warm up: every connection open (held all at once, so each is a different one), code paths compiled.
    await listenerTotals(pool, POOL_MAX);
    await Promise.all(Array.from({ length: 200 }, () => pool.query('select 1')));
    expect(
      await pollUntil(
        () => pool.stats().idle,
        (n) => n === POOL_MAX,
        5_000,
      ),
    ).toBe(POOL_MAX);
    const handlesBefore = resources();
    const heapBefore = await settledHeap(gc);

    const waits = new Array<number>(CALLERS);
    const order: number[] = [];
    const started = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: CALLERS }, (_, i) => {
        const calledAt = performance.now();
        return pool.acquire(async (conn) => {
          waits[i] = performance.now() - calledAt;
          order.push(i);
          await conn.query('select $1::int as i', [i]);
          return i;
        });
      }),
    );
    const runMillis = performance.now() - started;
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(results.map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual(
      Array.from({ length: CALLERS }, (_, i) => i),
    );

    // FIFO: served in the order they asked, and nobody waits much longer than the rest.
    let maxDisplacement = 0;
    order.forEach((caller, rank) => {
      maxDisplacement = Math.max(maxDisplacement, Math.abs(caller - rank));
    });
    const average = waits.reduce((a, b) => a + b, 0) / CALLERS;
    const maxWait = Math.max(...waits);
    // Waits grow linearly with the place in line under FIFO: the last one waits about twice the average.
    expect(maxDisplacement).toBeLessThanOrEqual(POOL_MAX * 5);
    expect(maxWait).toBeLessThanOrEqual(average * 4);

    const heapAfter = await settledHeap(gc);
    const handlesAfter = await pollUntil(
      () => resources(),
      (counts) => total(counts) <= total(handlesBefore),
      5_000,
    );
    console.log(
      `${CALLERS} callers: ${Math.round(runMillis)} ms, average wait ${Math.round(average)} ms, ` +
        `max wait ${Math.round(maxWait)} ms, max FIFO displacement ${maxDisplacement}; ` +
        `heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB; ` +
        `handles ${JSON.stringify(handlesBefore)} -> ${JSON.stringify(handlesAfter)}`,
    );
    expect(total(handlesAfter)).toBeLessThanOrEqual(total(handlesBefore));
    expect(heapAfter - heapBefore).toBeLessThan(HEAP_GROWTH_BOUND_BYTES);
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0, size: POOL_MAX, created: POOL_MAX });
    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  }, 120_000);

  it(
    `${TRANSACTIONS} transactions with a backend killed every ${KILL_EVERY}: no leak, no listener growth`,
    async () => {
      watch = watchProcessErrors();
      const gc = collectGarbage();
      fp = faultPool(db, undefined, { max: POOL_MAX });
      const pool = fp.pool;
      const app = fp.app;
      const killer = new pg.Client({ ...db.config, application_name: 'soak-killer' });
      await killer.connect();
      try {
        const warmedListeners = await listenerTotals(pool, POOL_MAX);
        const run = async (count: number, kill: boolean) => {
          const outcomes = { committed: 0, unknown: 0, unknownWithXid: 0, lost: 0, kills: 0 };
          let next = 0;
          await Promise.all(
            Array.from({ length: POOL_MAX }, async (_, worker) => {
              while (next < count) {
                const i = next++;
                if (kill && i > 0 && i % KILL_EVERY === 0) {
                  // One session of the pool, whatever it is doing (idle, mid-statement, mid-COMMIT).
                  await killer.query(
                    `select pg_terminate_backend(pid) from pg_stat_activity
                      where datname = current_database() and application_name = $1
                      order by random() limit 1`,
                    [app],
                  );
                  outcomes.kills++;
                }
                try {
                  await pool.transaction(
                    async (tx) => {
                      await tx.query('update counter set n = n + 1 where id = $1', [worker + 1]);
                    },
                    { retry: { maxAttempts: 3, baseDelayMillis: 1, maxDelayMillis: 20 } },
                  );
                  outcomes.committed++;
                } catch (err) {
                  if (err instanceof CommitUnknownError) {
                    outcomes.unknown++;
                    if (err.xid !== undefined) outcomes.unknownWithXid++;
                  } else if (isRetryable(err)) outcomes.lost++;
                  else throw err;
                }
              }
            }),
          );
          return outcomes;
        };

        // Warm up (connections open, code compiled), then measure the baseline.
        await run(2_000, false);
        const heapBefore = await settledHeap(gc);
        const started = performance.now();
        const resolvedBefore = fp.log.withEvent(LogEvent.txCommitResolved).length;
        const outcomes = await run(TRANSACTIONS, true);
        const runMillis = performance.now() - started;
        // Lost COMMITs the server answered for (resolveCommitOutcome, the default), one line each.
        const resolved = fp.log.withEvent(LogEvent.txCommitResolved).slice(resolvedBefore);
        const resolvedCommitted = resolved.filter((line) => line.outcome === 'committed').length;
        const resolvedAborted = resolved.filter((line) => line.outcome === 'aborted').length;
        const heapAfter = await settledHeap(gc);
        const listeners = await listenerTotals(pool, POOL_MAX);
        console.log(
          `${TRANSACTIONS} transactions in ${Math.round(runMillis)} ms: ${outcomes.committed} committed, ` +
            `${outcomes.unknown} commit unknown, ${outcomes.lost} lost after retries, ${outcomes.kills} backends killed; ` +
            `lost COMMITs resolved by the server: ${resolvedCommitted} committed, ${resolvedAborted} aborted; ` +
            `heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB; ` +
            `listeners per client ${JSON.stringify(warmedListeners)} -> ${JSON.stringify(listeners)}; ` +
            `pool ${JSON.stringify(pool.stats())}`,
        );
        expect(outcomes.committed + outcomes.unknown + outcomes.lost).toBe(TRANSACTIONS);
        // Only kills here, the server always reachable: a COMMIT lost to a kill is answered by the server (or
        // known not to have been read), so none ends unknown.
        expect(outcomes.unknown).toBe(0);
        expect(outcomes.kills).toBe(Math.floor((TRANSACTIONS - 1) / KILL_EVERY));
        expect(heapAfter - heapBefore).toBeLessThan(HEAP_GROWTH_BOUND_BYTES);
        // Every client, old or freshly opened after a kill, has as many listeners as a fresh one had.
        const fresh = Math.max(...warmedListeners);
        for (const count of listeners) expect(count).toBeLessThanOrEqual(fresh);
        expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);

        // The counter saw every committed increment, and possibly the unknown ones.
        const { rows } = await pool.query<{ n: string }>('select sum(n)::text as n from counter');
        const counted = Number(rows[0]?.n);
        expect(counted).toBeGreaterThanOrEqual(2_000 + outcomes.committed);
        expect(counted).toBeLessThanOrEqual(2_000 + outcomes.committed + outcomes.unknown);
        expect(watch.errors).toEqual([]);
        await expectHealthy(db, fp);
      } finally {
        await killer.end();
      }
    },
    FULL ? 1_800_000 : 180_000,
  );
});
