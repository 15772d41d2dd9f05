import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connection, createPool, isRetryable, type Pool, type PoolConfig } from '../src/index.js';
import { captureXidSql } from '../src/tx/commit-resolution.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog } from './support/pool-test-kit.js';
import { startTcpProxy, type TcpProxy } from './support/tx-support.js';

/**
 * `prepare: true` and the pool's own statements: BEGIN and the transaction-id statement go as named statements
 * of the connection, in the Sync of the cached statement behind them (docs/statement-cache.md). Counted at a
 * TCP proxy (Parse, Close, Bind, Sync and simple Query messages) and read from the server
 * (`pg_prepared_statements` on the scope's own connection, rows written).
 */

interface Prepared {
  name: string;
  statement: string;
}

async function preparedOn(conn: Connection): Promise<Prepared[]> {
  const { rows } = await conn.query<Prepared>(
    'select name, statement from pg_prepared_statements order by statement',
  );
  return rows;
}

const INSERT = 'insert into items (id, v) values ($1, $2)';

describe("prepare: true: the pool's own statements ride in the cached statements' Syncs", () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let xidText: string;
  let nextId = 1;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key, v int not null)');
    const { rows } = await db.admin("select current_setting('server_version_num')::int as v");
    xidText = captureXidSql(rows[0].v);
    proxy = await startTcpProxy(db.config);
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 1_000 })));
    await proxy?.close();
    await db?.drop();
  });

  function makePool(config: PoolConfig = {}): Pool {
    const pool = createPool({
      ...db.config,
      port: proxy.port,
      application_name: appName('stmt-ahead'),
      logger: captureLog('warn').logger,
      max: 1,
      prepare: true,
      ...config,
    });
    pools.push(pool);
    return pool;
  }

  /** Two inserts in one transaction; the ids they used. */
  function transfer(pool: Pool, options = {}): Promise<number[]> {
    const ids = [nextId++, nextId++];
    return pool.transaction(async (tx) => {
      for (const id of ids) await tx.query(INSERT, [id, 1]);
      return ids;
    }, options);
  }

  /** A pool whose one connection has run a transaction, then lost its statements behind the pool's back. */
  async function lostPool(): Promise<Pool> {
    const pool = makePool();
    await transfer(pool);
    await loseStatements(pool);
    return pool;
  }

  /** Drops the session's statements behind the pool's back (a `DEALLOCATE ALL` on the raw client). */
  async function loseStatements(pool: Pool): Promise<void> {
    await pool.acquire((conn) => conn.client.query('DEALLOCATE ALL'));
  }

  async function countRows(ids: number[]): Promise<number> {
    const { rows } = await db.admin('select count(*)::int as n from items where id = any($1)', [ids]);
    return rows[0].n;
  }

  /** Client messages of each type sent while `run` ran. */
  async function messages(run: () => Promise<unknown>): Promise<Record<string, number>> {
    const types = ['P', 'C', 'B', 'S', 'Q'];
    const before = types.map((t) => proxy.clientMessages(t));
    await run();
    return Object.fromEntries(types.map((t, i) => [t, proxy.clientMessages(t) - (before[i] as number)]));
  }

  it('BEGIN and the transaction id: prepared once per connection (behind a Close), then only bound', async () => {
    const pool = makePool();
    // First transaction: the insert, BEGIN and the id statement each parsed once; BEGIN and the id statement
    // behind a Close of their names. Only COMMIT goes as a simple query; one Sync per insert.
    expect(await messages(() => transfer(pool))).toEqual({ P: 3, C: 2, B: 4, S: 2, Q: 1 });
    // Warm: nothing parsed or closed, the same Syncs.
    expect(await messages(() => transfer(pool))).toEqual({ P: 0, C: 0, B: 4, S: 2, Q: 1 });
    // Another transaction mode is another BEGIN text: one more named statement, once.
    expect(await messages(() => transfer(pool, { isolation: 'serializable' }))).toMatchObject({ P: 1, C: 1 });
    expect(await messages(() => transfer(pool, { isolation: 'serializable' }))).toMatchObject({ P: 0, C: 0 });
    const prepared = await pool.acquire(preparedOn);
    expect(prepared.map((p) => p.statement).sort()).toEqual(
      ['BEGIN', 'BEGIN ISOLATION LEVEL SERIALIZABLE', INSERT, xidText].sort(),
    );
    for (const p of prepared) expect(p.name).toMatch(/^pgs_[0-9a-f]{40}$/);
    // The cache's own figures count the caller's statements only.
    expect(pool.stats().statements).toMatchObject({ prepared: 1, misses: 1, hits: 7, recoveries: 0 });
    expect(pool.stats()).toMatchObject({ commits: 4, rollbacks: 0 });
  });

  it('a first statement without values carries the named BEGIN too', async () => {
    const pool = makePool();
    const id = nextId++;
    await pool.transaction((tx) => tx.query(`insert into items (id, v) values (${id}, 1)`));
    const ids = [nextId++];
    const sent = await messages(() =>
      pool.transaction(async (tx) => {
        await tx.query(`insert into items (id, v) values (${ids[0]}, 1)`);
      }),
    );
    // The statement itself is parsed unnamed (it has no values); BEGIN is only bound. The transaction id goes
    // with COMMIT, each a simple query (the one statement wrote: nothing came after it to carry the id).
    expect(sent).toEqual({ P: 1, C: 0, B: 2, S: 1, Q: 2 });
    expect(await countRows([id, ...ids])).toBe(2);
  });

  it('an unseen DEALLOCATE ALL: one retryable failure that writes nothing, then everything prepared afresh', async () => {
    const pool = await lostPool();
    const ids = [nextId++, nextId++];
    const err = await pool
      .transaction(async (tx) => {
        for (const id of ids) await tx.query(INSERT, [id, 1]);
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((err as { code?: string }).code).toBe('26000');
    expect(isRetryable(err)).toBe(true);
    expect(await countRows(ids)).toBe(0);
    // The cache forgot every statement of the connection at once, closing the ones it knew: the next transaction
    // closes and prepares all three again in its own flights and commits, with no 42P05 anywhere.
    const sent = await messages(async () => expect(await countRows(await transfer(pool))).toBe(2));
    expect(sent).toEqual({ P: 3, C: 3, B: 4, S: 2, Q: 1 });
    // With retry: the callback runs twice and its rows are written once.
    await loseStatements(pool);
    let attempts = 0;
    const retried = await pool.transaction(
      async (tx) => {
        attempts++;
        const more = [nextId++, nextId++];
        for (const id of more) await tx.query(INSERT, [id, 1]);
        return more;
      },
      { retry: { maxAttempts: 3, baseDelayMillis: 1 } },
    );
    expect(attempts).toBe(2);
    expect(await countRows(retried)).toBe(2);
    expect(pool.stats().statements).toMatchObject({ enabled: true, recoveries: 2 });
    const prepared = await pool.acquire(preparedOn);
    expect(prepared.map((p) => p.statement).sort()).toEqual(['BEGIN', INSERT, xidText].sort());
  });

  it("a first statement that fails leaves BEGIN's name right: the next transactions commit", async () => {
    const pool = makePool();
    // BEGIN (parsed ahead of it) ran, then its Parse failed: pg took BEGIN's ParseComplete for the statement's,
    // so whether the server has it is unknown: it is closed with the next flight. BEGIN stays prepared.
    await expect(pool.transaction((tx) => tx.query('selec $1::int', [1]))).rejects.toMatchObject({
      code: '42601',
    });
    expect(await messages(() => transfer(pool))).toEqual({ P: 2, C: 2, B: 4, S: 2, Q: 1 });
    // A failure at Bind (the value), after BEGIN was bound: BEGIN stays prepared, only the new text is parsed.
    await expect(pool.transaction((tx) => tx.query('select $1::int as x', ['abc']))).rejects.toMatchObject({
      code: '22P02',
    });
    expect(await messages(() => transfer(pool))).toMatchObject({ P: 0, C: 0 });
    const prepared = await pool.acquire(preparedOn);
    expect(prepared.filter((p) => p.statement === 'BEGIN')).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ commits: 2, rollbacks: 2 });
  });

  it('isolation modes whose first statement is a miss: BEGIN goes first, so it sets the mode; rollback undoes', async () => {
    const pool = makePool();
    const modes = [
      { isolation: 'repeatable read' },
      { isolation: 'serializable' },
      { isolation: 'serializable', readOnly: true, deferrable: true },
    ] as const;
    for (const [i, mode] of modes.entries()) {
      const seen = await pool.transaction(
        async (tx) =>
          (await tx.query(`select current_setting($1) as iso, ${i} as i`, ['transaction_isolation'])).rows[0],
        mode,
      );
      expect(seen).toEqual({ iso: mode.isolation, i });
    }
    const id = nextId++;
    await expect(
      pool.transaction(
        async (tx) => {
          await tx.query('insert into items (id, v) values ($1, $2) returning id', [id, 1]);
          throw new Error('roll back');
        },
        { isolation: 'repeatable read' },
      ),
    ).rejects.toThrow('roll back');
    expect(await countRows([id])).toBe(0);
  });

  it('statements behind a BEGIN the server lost never run outside the transaction', async () => {
    const pool = makePool({ allowedSettings: ['statement_timeout'] });
    await transfer(pool);
    await transfer(pool, { settings: { statement_timeout: '5000' } });
    // Two statements sent at once: the second waits for BEGIN's answer, and is not sent when BEGIN failed.
    await loseStatements(pool);
    const together = [nextId++, nextId++];
    let statuses: string[] = [];
    const settled = await pool
      .transaction(async (tx) => {
        const all = await Promise.allSettled(together.map((id) => tx.query(INSERT, [id, 1])));
        statuses = all.map((r) => r.status);
      })
      .catch((e: unknown) => e);
    expect(statuses).toEqual(['rejected', 'rejected']);
    expect(settled).toMatchObject({ code: 'TX_ROLLED_BACK' });
    expect(await countRows(together)).toBe(0);
    // A caller that catches the first statement's failure and goes on: the next statement is refused unsent.
    await transfer(pool);
    await loseStatements(pool);
    const after = nextId++;
    const codes: unknown[] = [];
    await pool
      .transaction(async (tx) => {
        await tx.query(INSERT, [nextId++, 1]).catch((e: { code?: string }) => codes.push(e.code));
        await tx
          .query('insert into items (id, v) values ($1, 1)', [after])
          .catch((e: { code?: string }) => codes.push(e.code));
      })
      .catch(() => undefined);
    expect(codes).toEqual(['26000', '26000']);
    expect(await countRows([after])).toBe(0);
    // With `settings`, BEGIN goes as a query of its own (never named): the statements behind stay inside it.
    await transfer(pool, { settings: { statement_timeout: '5000' } });
    await loseStatements(pool);
    const withSettings = [nextId++, nextId++];
    const failed = await pool
      .transaction(
        async (tx) => {
          await tx.query(`insert into items (id, v) values (${withSettings[0]}, 1)`);
          await tx.query(INSERT, [withSettings[1], 1]);
        },
        { settings: { statement_timeout: '5000' } },
      )
      .catch((e: { code?: string }) => e.code);
    // The `settings` statement's own error, not the first statement's 25P02 behind it.
    expect(failed).toBe('26000');
    expect(await countRows(withSettings)).toBe(0);
    // Three unseen losses, each counted once however many statements it failed: prepare is turned off at the
    // third (as behind a pooler that does not keep named statements), and the pool goes on unnamed.
    expect(pool.stats().statements).toMatchObject({ enabled: false, recoveries: 3 });
    const last = await transfer(pool);
    expect(await countRows(last)).toBe(2);
  });

  it('a caller that catches a lost BEGIN and returns: rolled back, never reported committed', async () => {
    const pool = await lostPool();
    const ids = [nextId++, nextId++];
    const err = await pool
      .transaction(async (tx) => {
        await tx.query(INSERT, [ids[0], 1]).catch(() => undefined);
        await tx.query(INSERT, [ids[1], 1]).catch(() => undefined);
      })
      .catch((e: unknown) => e);
    // The server was outside any transaction: a COMMIT there would have answered COMMIT.
    expect(err).toMatchObject({ code: 'TX_ROLLED_BACK', cause: { code: '26000' } });
    expect(isRetryable(err)).toBe(true);
    expect(await countRows(ids)).toBe(0);
    expect(pool.stats()).toMatchObject({ commits: 1, rollbacks: 1 });
  });

  it('a transaction in an acquire scope after a write: a lost BEGIN leaves the scope and its connection usable', async () => {
    const pool = makePool();
    await transfer(pool);
    const rows = await pool.acquire(async (conn) => {
      await conn.query(INSERT, [nextId++, 1]);
      await conn.client.query('DEALLOCATE ALL');
      const together = [nextId++, nextId++];
      await expect(
        conn.transaction((tx) => Promise.all(together.map((id) => tx.query(INSERT, [id, 1])))),
      ).rejects.toMatchObject({ code: '26000' });
      expect(await countRows(together)).toBe(0);
      return (await conn.query('select 1 as one')).rows;
    });
    expect(rows).toEqual([{ one: 1 }]);
    expect(pool.stats()).toMatchObject({ destroyed: 0 });
  });

  it("a failed settings statement is the transaction's error, also behind a first statement without values", async () => {
    const pool = makePool({ allowedSettings: ['statement_timeout'] });
    for (const first of ['select 1', INSERT]) {
      const code = await pool
        .transaction(
          async (tx) => {
            await (first === INSERT ? tx.query(INSERT, [nextId++, 1]) : tx.query(first));
          },
          { settings: { statement_timeout: 'abc' } },
        )
        .catch((e: { code?: string }) => e.code);
      expect(code).toBe('22023');
    }
  });

  it("a cached statement's error shows where the caller sent it (as pg's promise form does)", async () => {
    const pool = makePool();
    async function outsideCaller() {
      await pool.query('select $1::int / 0 as z', [1]);
    }
    async function carrierCaller() {
      await pool.transaction(async (tx) => {
        await tx.query('select $1::int / 0 as z', [2]);
      });
    }
    async function laterCaller() {
      await pool.transaction(async (tx) => {
        await tx.query('select $1::int as a', [1]);
        await tx.query('select $1::int / 0 as z', [3]);
      });
    }
    // Twice each: the first run prepares, the second only binds.
    for (const caller of [
      outsideCaller,
      outsideCaller,
      carrierCaller,
      carrierCaller,
      laterCaller,
      laterCaller,
    ]) {
      const err = (await caller().catch((e: unknown) => e)) as Error;
      expect(err).toMatchObject({ code: '22012' });
      expect(err.stack).toContain(caller.name);
    }
  });
});
