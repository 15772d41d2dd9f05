import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connection, createPool, type Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog } from './support/pool-test-kit.js';

/**
 * The statement cache's soak (`npm run soak`, not CI): 100 000 distinct statement texts through a pool with
 * `prepare: true` and a cache of 256. Every connection's server-side statement count (`pg_prepared_statements`
 * on the scope's own connection) and pg's own record of parsed statements stay within the cache size, and the
 * heap stays flat. `PG_SCOPE_SOAK_STATEMENTS=n` runs a shorter one of n texts.
 */
const FULL = process.env.PG_SCOPE_SOAK === 'full';
const SHORT = Number(process.env.PG_SCOPE_SOAK_STATEMENTS ?? 0);
const TEXTS = SHORT > 0 ? SHORT : 100_000;
const RUN = FULL || SHORT > 0;
const CACHE = 256;
const POOL_MAX = 4;
const CALLERS = 8;
/** Checks of every connection's statements, spread over the run. */
const CHECKS = 10;
/** Heap growth allowed over the run, after a full GC: a leak of 100 bytes per text is 10 MB over the full run. */
const HEAP_GROWTH_BOUND_BYTES = 6_000_000;

if (!RUN)
  console.log('skipping the statement-cache soak: it runs in `npm run soak` (or PG_SCOPE_SOAK_STATEMENTS=n)');

function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function settledHeap(gc: () => void): Promise<number> {
  for (let i = 0; i < 2; i++) {
    await sleep(50);
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Statements pg itself records as parsed on a connection (node-postgres never removes one on its own). */
function pgParsedCount(conn: Connection): number {
  const con = (conn.client as unknown as { connection: { parsedStatements: object } }).connection;
  return Object.keys(con.parsedStatements).length;
}

/** For every connection of the pool (all borrowed at once, so each is a different one): server and pg counts. */
async function countsPerConnection(pool: Pool): Promise<{ server: number; pg: number }[]> {
  const counts: { server: number; pg: number }[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  await Promise.all(
    Array.from({ length: POOL_MAX }, () =>
      pool.acquire(async (conn) => {
        const { rows } = await conn.query<{ n: number }>(
          'select count(*)::int as n from pg_prepared_statements',
        );
        counts.push({ server: rows[0]?.n ?? -1, pg: pgParsedCount(conn) });
        if (counts.length === POOL_MAX) release();
        await gate;
      }),
    ),
  );
  return counts;
}

describe.skipIf(!RUN)('statement cache soak', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await pool?.close({ timeoutMillis: 5_000 });
    await db?.drop();
  });

  it(`${TEXTS} distinct texts on a cache of ${CACHE}: ≤ ${CACHE} statements per connection, heap flat`, async () => {
    const gc = collectGarbage();
    pool = createPool({
      ...db.config,
      application_name: appName('stmt-soak'),
      logger: captureLog('warn').logger,
      max: POOL_MAX,
      prepare: true,
      statementCacheSize: CACHE,
      nestedAcquire: 'allow',
    });
    let next = 0;
    let wrong = 0;
    const runTexts = async (until: number) => {
      const from = next;
      await Promise.all(
        Array.from({ length: CALLERS }, async () => {
          for (let i = next++; i < until; i = next++) {
            const { rows } = await pool.query<{ x: number }>(`select $1::int + ${i} as x`, [1]);
            if (rows[0]?.x !== i + 1) wrong++;
          }
        }),
      );
      // The workers took one index each past `until` and ran none of them.
      next = Math.max(from, until);
    };
    // Warm up: every connection's cache full, code paths compiled.
    await runTexts(CACHE * POOL_MAX * 2);
    const heapBefore = await settledHeap(gc);
    const started = performance.now();
    let maxServer = 0;
    let maxPg = 0;
    for (let check = 1; check <= CHECKS; check++) {
      await runTexts(Math.round((TEXTS * check) / CHECKS));
      for (const { server, pg } of await countsPerConnection(pool)) {
        maxServer = Math.max(maxServer, server);
        maxPg = Math.max(maxPg, pg);
      }
      expect(maxServer).toBeLessThanOrEqual(CACHE);
      expect(maxPg).toBeLessThanOrEqual(CACHE);
    }
    const seconds = (performance.now() - started) / 1000;
    const heapAfter = await settledHeap(gc);
    const stats = pool.stats();
    console.log(
      `statement soak: ${TEXTS} texts in ${seconds.toFixed(1)} s; per connection at most ${maxServer} ` +
        `statements on the server, ${maxPg} in pg's record; heap ${(heapBefore / 1e6).toFixed(1)} -> ` +
        `${(heapAfter / 1e6).toFixed(1)} MB; ${JSON.stringify(stats.statements)}`,
    );
    expect(wrong).toBe(0);
    expect(stats.statements?.prepared).toBeLessThanOrEqual(CACHE * POOL_MAX);
    expect(stats.statements?.recoveries).toBe(0);
    expect(stats.destroyed).toBe(0);
    expect(heapAfter - heapBefore).toBeLessThan(HEAP_GROWTH_BOUND_BYTES);
  });
});
