import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connection, createPool, isRetryable, type Pool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog } from './support/pool-test-kit.js';
import { startTcpProxy, type TcpProxy, terminateBackend } from './support/tx-support.js';

/**
 * `prepare: true` (SPEC "Statement cache"): named statements, cached per connection. Every figure is read from
 * the server (`pg_prepared_statements` on the scope's own connection; a query without values runs on the simple
 * protocol and prepares nothing) or counted at a TCP proxy (Parse and Close messages, round trips).
 */

interface Prepared {
  name: string;
  statement: string;
}

/** The named statements of the session behind `conn`, by name. */
async function preparedOn(conn: Connection): Promise<Prepared[]> {
  const { rows } = await conn.query<Prepared>(
    'select name, statement from pg_prepared_statements order by name',
  );
  return rows;
}

describe('statement cache (prepare: true)', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key, v int not null)');
    await db.admin('create table wide (id int primary key)');
    await db.admin('insert into wide values (1)');
    proxy = await startTcpProxy(db.config);
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 1_000 })));
    await proxy?.close();
    await db?.drop();
  });

  /** A pool through the proxy, one connection unless told otherwise. */
  function makePool(config: PoolConfig = {}) {
    const log = captureLog('debug');
    const pool = createPool({
      ...db.config,
      port: proxy.port,
      application_name: appName('stmt'),
      logger: log.logger,
      max: 1,
      prepare: true,
      ...config,
    });
    pools.push(pool);
    return { pool, log };
  }

  it('with the defaults no named statement is ever created', async () => {
    const { pool } = makePool({ prepare: undefined, resetOnRelease: 'rollback' });
    await pool.query('select $1::int as x', [1]);
    await pool.transaction(async (tx) => {
      await tx.query('select $1::int as x', [2]);
      await tx.query('insert into items values ($1, $2)', [1, 1]);
    });
    const left = await pool.acquire(async (conn) => {
      await conn.query('select $1::int as x', [3]);
      await conn.query({ text: 'select $1::text as t', values: ['a'] });
      return preparedOn(conn);
    });
    expect(left).toEqual([]);
    expect(pool.stats().statements).toBeUndefined();
  });

  it('a statement is prepared once per connection, under the same name on two connections', async () => {
    const { pool } = makePool({ max: 2, nestedAcquire: 'allow' });
    const parseBefore = proxy.clientMessages('P');
    const seen = await pool.acquire(async (a) =>
      pool.acquire(async (b) => {
        for (let i = 0; i < 3; i++) {
          expect((await a.query('select $1::int as x', [i])).rows).toEqual([{ x: i }]);
          expect((await b.query('select $1::int as x', [i])).rows).toEqual([{ x: i }]);
        }
        return { a: await preparedOn(a), b: await preparedOn(b) };
      }),
    );
    expect(seen.a).toHaveLength(1);
    expect(seen.a[0]?.statement).toBe('select $1::int as x');
    expect(seen.a[0]?.name).toMatch(/^pgs_[0-9a-f]{40}$/);
    expect(seen.b).toEqual(seen.a);
    // Six runs, two Parse messages: one per connection.
    expect(proxy.clientMessages('P') - parseBefore).toBe(2);
    expect(pool.stats().statements).toMatchObject({ prepared: 2, hits: 4, misses: 2, evictions: 0 });
  });

  it('the cache never holds more than statementCacheSize; evicted statements are closed, in no extra round trip', async () => {
    const size = 3;
    const { pool } = makePool({ statementCacheSize: size });
    await pool.acquire(async (conn) => {
      await conn.query('select 1');
      const closeBefore = proxy.clientMessages('C');
      const tripsBefore = proxy.roundTrips;
      for (let i = 0; i < 10; i++) {
        await conn.query(`select $1::int + ${i} as x`, [1]);
        const prepared = await preparedOn(conn);
        expect(prepared.length).toBeLessThanOrEqual(size);
        // The most recent ones are kept.
        const texts = prepared.map((p) => p.statement).sort();
        const expected = Array.from(
          { length: Math.min(i + 1, size) },
          (_, k) => `select $1::int + ${i - k} as x`,
        );
        expect(texts).toEqual(expected.sort());
      }
      // 7 evictions, 7 Close messages; each statement and each look at the server one round trip.
      expect(proxy.clientMessages('C') - closeBefore).toBe(7);
      expect(proxy.roundTrips - tripsBefore).toBe(20);
    });
    expect(pool.stats().statements).toMatchObject({ prepared: size, evictions: 7, misses: 10 });
  });

  it('a hit moves a statement to the back of the queue (least recently used goes first)', async () => {
    const { pool } = makePool({ statementCacheSize: 2 });
    const texts = await pool.acquire(async (conn) => {
      await conn.query('select $1::int as a', [1]);
      await conn.query('select $1::int as b', [1]);
      await conn.query('select $1::int as a', [1]);
      await conn.query('select $1::int as c', [1]);
      return (await preparedOn(conn)).map((p) => p.statement).sort();
    });
    expect(texts).toEqual(['select $1::int as a', 'select $1::int as c']);
  });

  it("a user's statement name is kept, and statements without values stay on the simple protocol", async () => {
    const { pool } = makePool();
    const prepared = await pool.acquire(async (conn) => {
      await conn.query({ name: 'mine', text: 'select $1::int as x', values: [1] });
      await conn.query({ name: 'mine', text: 'select $1::int as x', values: [2] });
      const parseBefore = proxy.clientMessages('P');
      await conn.query('select 1 as x');
      await conn.query({ text: 'select 2 as x' });
      expect(proxy.clientMessages('P')).toBe(parseBefore);
      return preparedOn(conn);
    });
    expect(prepared).toEqual([{ name: 'mine', statement: 'select $1::int as x' }]);
  });

  describe('a schema change under a cached select * (0A000)', () => {
    const SELECT = 'select * from wide where id = $1';
    let column = 0;
    async function addColumn(): Promise<string> {
      column++;
      await db.admin(`alter table wide add column c${column} int default ${column}`);
      return `c${column}`;
    }

    it('outside a transaction: re-run transparently, then prepared afresh', async () => {
      const { pool } = makePool();
      await pool.query(SELECT, [1]);
      await pool.query(SELECT, [1]);
      const added = await addColumn();
      const { rows } = await pool.query(SELECT, [1]);
      expect(rows[0]).toHaveProperty(added);
      expect(pool.stats().statements).toMatchObject({ recoveries: 1 });
      const again = await pool.acquire(async (conn) => {
        await conn.query(SELECT, [1]);
        return preparedOn(conn);
      });
      expect(again.map((p) => p.statement)).toEqual([SELECT]);
    });

    it('inside a transaction without retry: rejected with a retryable error, counted as a rollback', async () => {
      const { pool } = makePool();
      await pool.query(SELECT, [1]);
      await addColumn();
      const err = await pool
        .transaction((tx) => tx.query(SELECT, [1]))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect((err as { code?: string }).code).toBe('0A000');
      expect((err as Error).message).toMatch(/cached plan must not change result type/);
      expect(isRetryable(err)).toBe(true);
      expect(pool.stats().rollbacks).toBe(1);
      // The next run prepares it again.
      const { rows } = await pool.query(SELECT, [1]);
      expect(rows).toHaveLength(1);
    });

    it('inside a transaction with retry: the callback runs again and commits', async () => {
      const { pool } = makePool();
      await pool.query(SELECT, [1]);
      const added = await addColumn();
      let attempts = 0;
      const row = await pool.transaction(
        async (tx) => {
          attempts++;
          await tx.query('insert into items values ($1, $2) on conflict (id) do nothing', [100, 1]);
          return (await tx.query(SELECT, [1])).rows[0];
        },
        { retry: { maxAttempts: 3, baseDelayMillis: 1 } },
      );
      expect(attempts).toBe(2);
      expect(row).toHaveProperty(added);
      expect(pool.stats()).toMatchObject({ commits: 1, rollbacks: 1 });
    });
  });

  describe("a user's DEALLOCATE ALL", () => {
    it('through the scope: the cache is emptied and the statement prepared again', async () => {
      const { pool } = makePool();
      const prepared = await pool.acquire(async (conn) => {
        await conn.query('select $1::int as x', [1]);
        await conn.query('DEALLOCATE ALL');
        expect(await preparedOn(conn)).toEqual([]);
        expect((await conn.query('select $1::int as x', [2])).rows).toEqual([{ x: 2 }]);
        return preparedOn(conn);
      });
      expect(prepared.map((p) => p.statement)).toEqual(['select $1::int as x']);
      expect(pool.stats().statements).toMatchObject({ recoveries: 0, prepared: 1 });
    });

    it('on the raw client (unseen by the pool): the missing statement (26000) is recovered', async () => {
      const { pool } = makePool();
      const prepared = await pool.acquire(async (conn) => {
        await conn.query('select $1::int as x', [1]);
        await conn.client.query('DEALLOCATE ALL');
        expect((await conn.query('select $1::int as x', [2])).rows).toEqual([{ x: 2 }]);
        expect((await conn.query('select $1::int as x', [3])).rows).toEqual([{ x: 3 }]);
        return preparedOn(conn);
      });
      expect(prepared.map((p) => p.statement)).toEqual(['select $1::int as x']);
      expect(pool.stats().statements).toMatchObject({ recoveries: 1, enabled: true });
    });
  });

  it("resetOnRelease: 'discard' empties the cache; nothing is sent under a name the server lost", async () => {
    const { pool } = makePool({ resetOnRelease: 'discard' });
    for (let i = 0; i < 3; i++) {
      const prepared = await pool.acquire(async (conn) => {
        await conn.query('select $1::int as x', [i]);
        await conn.query('select $1::int as x', [i]);
        return preparedOn(conn);
      });
      expect(prepared.map((p) => p.statement)).toEqual(['select $1::int as x']);
    }
    expect(pool.stats()).toMatchObject({ created: 1, destroyed: 0 });
    expect(pool.stats().statements).toMatchObject({ recoveries: 0, misses: 3, hits: 3, prepared: 0 });
  });

  it('a destroyed connection takes its statements with it; the next one prepares afresh', async () => {
    const { pool } = makePool();
    const pid = await pool.acquire(async (conn) => {
      await conn.query('select $1::int as x', [1]);
      const { rows } = await conn.query<{ pid: number }>('select pg_backend_pid() as pid');
      return rows[0]?.pid as number;
    });
    expect(pool.stats().statements).toMatchObject({ prepared: 1 });
    await terminateBackend(db, pid);
    await pool.ping().catch(() => undefined);
    const prepared = await pool.acquire(async (conn) => {
      await conn.query('select $1::int as x', [1]);
      return preparedOn(conn);
    });
    expect(prepared).toHaveLength(1);
    expect(pool.stats().statements).toMatchObject({ prepared: 1, recoveries: 0 });
  });

  it('pgPool() users (Kysely, Drizzle) get the cache too', async () => {
    const { pool } = makePool();
    const view = pool.pgPool();
    await view.query('select $1::int as x', [1]);
    const client = await view.connect();
    try {
      await client.query('select $1::int as x', [2]);
      await client.query({ text: 'select $1::int as y', values: [3], rowMode: 'array' });
      const { rows } = await client.query('select statement from pg_prepared_statements order by statement');
      expect(rows).toEqual([{ statement: 'select $1::int as x' }, { statement: 'select $1::int as y' }]);
    } finally {
      client.release();
    }
  });

  it('a warm transfer of k statements sends no Parse and takes k+1 round trips', async () => {
    const K = 3;
    const { pool } = makePool();
    await db.admin('insert into items values (1000, 0), (1001, 0) on conflict do nothing');
    const transfer = () =>
      pool.transaction(async (tx) => {
        await tx.query('update items set v = v - $1 where id = $2', [1, 1000]);
        await tx.query('update items set v = v + $1 where id = $2', [1, 1001]);
        await tx.query('select v from items where id = $1', [1000]);
      });
    await transfer();
    proxy.delayMillis = 20;
    try {
      const parseBefore = proxy.clientMessages('P');
      const bindBefore = proxy.clientMessages('B');
      const tripsBefore = proxy.roundTrips;
      for (let i = 0; i < 5; i++) await transfer();
      expect(proxy.clientMessages('P') - parseBefore).toBe(0);
      // Each statement, and BEGIN and the transaction id (named statements of the connection, in their Syncs).
      expect(proxy.clientMessages('B') - bindBefore).toBe(5 * (K + 2));
      expect((proxy.roundTrips - tripsBefore) / 5).toBe(K + 1);
    } finally {
      proxy.delayMillis = 0;
    }
  });
});
