import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommitUnknownError, isRetryable } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { expectHealthy, type FaultPool, faultPool } from './support/fault-kit.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';
import { type ProcessErrorWatch, pollUntil, settle, watchProcessErrors } from './support/pool-test-kit.js';

const CALLS = 300;
const MAX = 5;
/** Every call must settle well within this, cut or not (acquire timeout 10 s + slack). */
const SETTLE_BOUND_MILLIS = 15_000;

describe('fault: every connection cut during load', () => {
  let db: TestDatabase;
  let proxy: FaultProxy;
  let fp: FaultPool | undefined;
  let watch: ProcessErrorWatch;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table writes (id uuid primary key, n int not null)');
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

  it('every call settles with success or a typed error; what succeeded is there, what failed is not', async () => {
    watch = watchProcessErrors();
    proxy = await startFaultProxy({ host: db.config.host, port: db.config.port });
    fp = faultPool(db, proxy, { max: MAX });
    const pool = fp.pool;
    let completed = 0;
    let cutDone = false;

    const calls = Array.from({ length: CALLS }, (_, i) => {
      const id = randomUUID();
      return settle(
        pool
          .transaction(async (tx) => {
            await tx.query('insert into writes (id, n) values ($1, $2)', [id, i]);
            await tx.query('select pg_sleep(0.002)');
            return id;
          })
          .finally(() => {
            completed++;
            // One cut, mid-run, while transactions are in every phase (BEGIN, statements, COMMIT).
            if (completed === Math.floor(CALLS / 3) && !cutDone) {
              cutDone = true;
              proxy.cutAll();
            }
          }),
      ).then((outcome) => ({ id, outcome }));
    });
    const results = await Promise.all(calls);
    expect(cutDone).toBe(true);

    const committed = new Set<string>();
    const failed = new Set<string>();
    const unknown = new Set<string>();
    let maxMillis = 0;
    for (const { id, outcome } of results) {
      maxMillis = Math.max(maxMillis, outcome.millis);
      expect(outcome.millis).toBeLessThan(SETTLE_BOUND_MILLIS);
      if (outcome.ok) {
        committed.add(id);
      } else if (outcome.error instanceof CommitUnknownError) {
        unknown.add(id);
      } else {
        // Anything else must be a connection loss (typed: retryable, never a plain crash or a hang).
        expect(isRetryable(outcome.error), String(outcome.error)).toBe(true);
        failed.add(id);
      }
    }
    console.log(
      `cut under load: ${CALLS} calls, ${committed.size} committed, ${failed.size} failed (connection lost), ` +
        `${unknown.size} commit unknown, max settle ${Math.round(maxMillis)} ms`,
    );
    // The cut reached open connections. Every call may still succeed: a first flight found dead is re-sent on
    // another connection, and a COMMIT lost in flight is asked about on another one.
    expect(pool.stats().destroyed, 'connections the cut closed').toBeGreaterThan(0);
    expect(committed.size).toBeGreaterThan(0);

    const { rows } = await pool.query<{ id: string }>('select id from writes');
    const stored = new Set(rows.map((row) => row.id));
    expect(rows.length).toBe(stored.size);
    for (const id of committed) expect(stored.has(id)).toBe(true);
    for (const id of failed) expect(stored.has(id)).toBe(false);
    for (const id of stored) expect(committed.has(id) || unknown.has(id)).toBe(true);

    expect(
      await pollUntil(
        () => watch.errors.length,
        (n) => n > 0,
        200,
      ),
    ).toBe(0);
    await expectHealthy(db, fp);
  });
});
