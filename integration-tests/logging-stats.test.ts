import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs } from './setup/log-capture.js';

describe('stats() totals', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('counts acquires, connections opened and closed, exhaustion, commits and rollbacks', async () => {
    const app = 'logging-stats-totals';
    const capture = captureLogs();
    const pool = createPool({
      connectionString: db.url,
      application_name: app,
      max: 2,
      logger: capture.logger,
    });
    expect(pool.stats()).toEqual({
      max: 2,
      min: 0,
      size: 0,
      idle: 0,
      borrowed: 0,
      waiting: 0,
      acquired: 0,
      created: 0,
      destroyed: 0,
      exhausted: 0,
      commits: 0,
      rollbacks: 0,
      longestBorrowMillis: 0,
    });

    // One acquire, one connection.
    await pool.acquire((conn) => conn.query('select 1'));
    expect(pool.stats()).toMatchObject({ acquired: 1, created: 1, size: 1, idle: 1, borrowed: 0 });

    // A commit; a rollback (the callback throws); an explicit rollback; a disposed, uncommitted one.
    await pool.transaction((tx) => tx.query('select 1'));
    await expect(
      pool.transaction(async (tx) => {
        await tx.query('select 1');
        throw new Error('roll it back');
      }),
    ).rejects.toThrow('roll it back');
    {
      await using tx = await pool.transaction();
      await tx.query('select 1');
      await tx.rollback();
    }
    {
      await using tx = await pool.transaction();
      await tx.query('select 1');
    }
    expect(pool.stats()).toMatchObject({ acquired: 5, created: 1, commits: 1, rollbacks: 3 });

    // A retried transaction: two acquires, one rollback, one commit.
    let attempts = 0;
    await pool.transaction(
      async (tx) => {
        await tx.query('select 1');
        if (++attempts === 1) throw Object.assign(new Error('serialization failure'), { code: '40001' });
      },
      { retry: { maxAttempts: 2, baseDelayMillis: 1 } },
    );
    expect(pool.stats()).toMatchObject({ acquired: 7, commits: 2, rollbacks: 4 });

    // Savepoints are not counted: one commit for the whole transaction.
    await pool.transaction(async (tx) => {
      await tx.transaction((sp) => sp.query('select 1'));
      await expect(
        tx.transaction(async () => {
          throw new Error('undo the savepoint');
        }),
      ).rejects.toThrow();
    });
    expect(pool.stats()).toMatchObject({ acquired: 8, commits: 3, rollbacks: 4 });

    // Both connections borrowed, one caller waiting, and two exhausted acquires.
    const a = await pool.acquire();
    const b = await pool.acquire();
    await Promise.all([a.query('select 1'), b.query('select 1')]);
    const waiting = pool.acquire({ timeoutMillis: 5_000 });
    await sleep(10);
    expect(pool.stats()).toMatchObject({ size: 2, idle: 0, borrowed: 2, waiting: 1, created: 2 });
    await expect(pool.acquire({ timeoutMillis: 0 })).rejects.toMatchObject({ reason: 'no-wait' });
    await expect(pool.acquire({ timeoutMillis: 30 })).rejects.toMatchObject({ reason: 'timeout' });
    expect(pool.stats()).toMatchObject({ exhausted: 2, acquired: 10, waiting: 1 });
    await a.release();
    const c = await waiting;
    await Promise.all([b.release(), c.release()]);
    expect(pool.stats()).toMatchObject({ acquired: 11, size: 2, idle: 2, borrowed: 0, waiting: 0 });

    // Both connections terminated while idle: the next acquire destroys them and opens a new one.
    await db.admin(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = $2',
      [db.name, app],
    );
    await capture.waitFor('conn.error', (r) => r.connectionId === 2);
    await capture.waitFor('conn.error', (r) => r.connectionId === 1);
    await pool.query('select 1');
    expect(pool.stats()).toMatchObject({ acquired: 12, created: 3, destroyed: 2, size: 1 });

    await pool.close();
    expect(pool.stats()).toEqual({
      max: 2,
      min: 0,
      size: 0,
      idle: 0,
      borrowed: 0,
      waiting: 0,
      acquired: 12,
      created: 3,
      destroyed: 3,
      exhausted: 2,
      commits: 3,
      rollbacks: 4,
      longestBorrowMillis: 0,
    });
  });
});
