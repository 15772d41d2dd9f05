import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool, type Pool, type PoolConfig, TransactionRolledBackError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { type PgBouncer, pgbouncerMissing, startPgBouncer } from './support/pgbouncer.js';
import { appName, captureLog } from './support/pool-test-kit.js';
import { idsIn, pollFor, terminateBackend } from './support/tx-support.js';

/**
 * The scopes behind PgBouncer in transaction mode (rule 11): PgBouncer gives each transaction — and each
 * statement outside one — whichever server connection is free, so nothing may depend on session state, and
 * BEGIN, which pg-scope pipelines with the transaction's first statement, must land on the same server
 * connection as that statement. PgBouncer runs with 3 server connections for pools of 5 clients, so
 * clients really do share them.
 */

const missing = await pgbouncerMissing();
if (missing !== undefined) console.log(`skipping the PgBouncer tests: ${missing}`);

/** pg_backend_pid() and the transaction id of the statement, to tell server connections and transactions apart. */
interface Where {
  pid: number;
  xid: string;
}

const WHERE_SQL = 'select pg_backend_pid() as pid, txid_current()::text as xid';

describe.skipIf(missing !== undefined)('behind PgBouncer (transaction mode)', () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    bouncer = await startPgBouncer(inject('pgAdminUrl'), { poolSize: 3 });
    await db.admin('create table items (id int primary key, note text)');
    await db.admin('create table counter (id int primary key, n int not null)');
    await db.admin('insert into counter values (1, 0)');
    // COMMIT of a row in slow_items runs this deferred trigger, which holds the COMMIT open for a second.
    await db.admin('create table slow_items (id int primary key)');
    await db.admin(
      `create function hold_commit() returns trigger language plpgsql as $$
       begin perform pg_sleep(1); return null; end $$`,
    );
    await db.admin(
      `create constraint trigger slow_commit after insert on slow_items
       deferrable initially deferred for each row execute function hold_commit()`,
    );
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 5_000 })));
    await bouncer?.stop();
    await db?.drop();
  });

  function bouncedPool(config: Partial<PoolConfig> = {}): Pool {
    const pool = createPool({
      ...db.config,
      host: bouncer.host,
      port: bouncer.port,
      application_name: appName('bounced'),
      logger: captureLog('warn').logger,
      max: 5,
      ...config,
    });
    pools.push(pool);
    return pool;
  }

  it('acquire and query go through PgBouncer', async () => {
    const pool = bouncedPool();
    const result = await pool.acquire((conn) =>
      conn.query<{ db: string; one: number }>('select current_database() as db, $1::int as one', [1]),
    );
    expect(result.rows).toEqual([{ db: db.name, one: 1 }]);
    const { rows } = await pool.query<{ port: number }>('select inet_server_port() as port');
    // The session is the server's, reached through PgBouncer's port. The server's own port is asked of the
    // server on a direct connection: in a container it is 5432 behind a mapped port.
    const direct = await db.admin('select inet_server_port() as port');
    expect(rows[0]?.port).toBe((direct.rows[0] as { port: number }).port);
    expect(bouncer.port).not.toBe(db.config.port);
  });

  it('pipelined BEGIN lands on the same server connection, in the same transaction, as the first statement', async () => {
    const pool = bouncedPool();
    // Other clients keep PgBouncer's 3 server connections busy, so a statement sent outside the transaction
    // would likely land elsewhere.
    const noise = Array.from({ length: 8 }, () => pool.query('select pg_sleep(0.01)'));
    const seen = await pool.transaction(async (tx) => {
      const first = (await tx.query<Where>(WHERE_SQL)).rows[0] as Where;
      await tx.query('select pg_sleep(0.01)');
      const second = (await tx.query<Where>(WHERE_SQL)).rows[0] as Where;
      return { first, second };
    });
    await Promise.all(noise);
    // Outside a transaction each statement would get a transaction id of its own (and, through PgBouncer,
    // maybe another server connection): the same pid and xid mean BEGIN opened one transaction for both.
    expect(seen.second).toEqual(seen.first);
  });

  it('callback transaction: commits on success, rolls back on throw with the same error', async () => {
    const pool = bouncedPool();
    await pool.transaction(async (tx) => {
      await tx.query("insert into items values (1, 'committed')");
      await tx.query("update items set note = note || '!' where id = 1");
    });
    const boom = new Error('boom');
    await expect(
      pool.transaction(async (tx) => {
        await tx.query("insert into items values (2, 'rolled back')");
        throw boom;
      }),
    ).rejects.toBe(boom);
    const { rows } = await pool.query('select id, note from items where id in (1, 2) order by id');
    expect(rows).toEqual([{ id: 1, note: 'committed!' }]);
  });

  it('a swallowed statement error makes COMMIT roll back: TransactionRolledBackError', async () => {
    const pool = bouncedPool();
    const err = await pool
      .transaction(async (tx) => {
        await tx.query("insert into items values (3, 'lost')");
        await tx.query('select 1 / 0').catch(() => undefined);
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(TransactionRolledBackError);
    expect(((err as Error).cause as { code?: string }).code).toBe('22012');
    const { rows } = await pool.query('select count(*)::int as n from items where id = 3');
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('await using: leaving the block without commit rolls back; commit() commits', async () => {
    const pool = bouncedPool();
    {
      await using tx = await pool.transaction();
      await tx.query("insert into items values (4, 'not committed')");
    }
    {
      await using tx = await pool.transaction();
      await tx.query("insert into items values (5, 'committed')");
      await tx.commit();
    }
    const { rows } = await pool.query('select id from items where id in (4, 5) order by id');
    expect(rows).toEqual([{ id: 5 }]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('savepoints: an inner failure rolls back to the savepoint, the outer transaction commits', async () => {
    const pool = bouncedPool();
    const inner = new Error('inner');
    await pool.transaction(async (tx) => {
      await tx.query("insert into items values (6, 'outer')");
      await expect(
        tx.transaction(async (sp) => {
          await sp.query("insert into items values (7, 'inner, rolled back')");
          throw inner;
        }),
      ).rejects.toBe(inner);
      await tx.transaction(async (sp) => {
        await sp.query("insert into items values (8, 'inner, released')");
      });
      {
        await using sp = await tx.transaction();
        await sp.query("insert into items values (9, 'inner, disposed')");
      }
    });
    const { rows } = await pool.query('select id from items where id between 6 and 9 order by id');
    expect(rows).toEqual([{ id: 6 }, { id: 8 }]);
  });

  it('transaction-local settings are visible inside and gone after, on every server connection', async () => {
    const pool = bouncedPool();
    const inside = await pool.transaction(
      async (tx) => {
        const { rows } = await tx.query<{ tenant: string; timeout: string }>(
          "select current_setting('app.tenant_id', true) as tenant, current_setting('statement_timeout') as timeout",
        );
        return rows[0];
      },
      { settings: { 'app.tenant_id': '42', statement_timeout: '5s' } },
    );
    expect(inside).toEqual({ tenant: '42', timeout: '5s' });
    // Ask every server connection PgBouncer has (3) several times: none kept the setting.
    const after = await Promise.all(
      Array.from({ length: 12 }, () =>
        pool.query<{ tenant: string | null; timeout: string }>(
          "select current_setting('app.tenant_id', true) as tenant, current_setting('statement_timeout') as timeout, pg_sleep(0.01)",
        ),
      ),
    );
    for (const result of after) {
      expect([null, '']).toContain(result.rows[0]?.tenant);
      expect(result.rows[0]?.timeout).not.toBe('5s');
    }
  });

  it("resetOnRelease: 'discard' runs DISCARD ALL through PgBouncer and the connection is reused", async () => {
    const pool = bouncedPool({ resetOnRelease: 'discard', max: 2 });
    for (let i = 0; i < 5; i++) {
      await pool.acquire(async (conn) => {
        await conn.query("select set_config('app.session_note', 'left behind', false)");
      });
    }
    const stats = pool.stats();
    expect(stats.created).toBe(1);
    expect(stats.destroyed).toBe(0);
    expect(stats.borrowed).toBe(0);
  });

  it('retry: a serialization failure (40001) from the server runs the transaction again, once committed', async () => {
    const pool = bouncedPool();
    let attempts = 0;
    await pool.transaction(
      async (tx) => {
        attempts++;
        await tx.query('update counter set n = n + 1 where id = 1');
        if (attempts === 1) {
          await tx.query("do $$ begin raise exception 'conflict' using errcode = '40001'; end $$");
        }
      },
      { retry: { maxAttempts: 3, baseDelayMillis: 5 } },
    );
    expect(attempts).toBe(2);
    const { rows } = await pool.query('select n from counter where id = 1');
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('many concurrent transactions on a pool of 5 over 3 server connections: all commit, none mixed up', async () => {
    const pool = bouncedPool({ max: 5 });
    await db.admin('create table burst (id int primary key, xid text not null, pid int not null)');
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        pool.transaction(async (tx) => {
          const before = (await tx.query<Where>(WHERE_SQL)).rows[0] as Where;
          await tx.query('insert into burst values ($1, txid_current()::text, pg_backend_pid())', [i]);
          const after = (await tx.query<Where>(WHERE_SQL)).rows[0] as Where;
          return { before, after };
        }),
      ),
    );
    for (const { before, after } of results) expect(after).toEqual(before);
    const { rows } = await pool.query<{ n: number; xids: number; pids: number }>(
      'select count(*)::int as n, count(distinct xid)::int as xids, count(distinct pid)::int as pids from burst',
    );
    expect(rows[0]?.n).toBe(300);
    expect(rows[0]?.xids).toBe(300);
    // PgBouncer's pool of 3 served them all.
    expect(rows[0]?.pids).toBeLessThanOrEqual(3);
    expect(pool.stats()).toMatchObject({ borrowed: 0, commits: 300 });
  });

  /** The server backend running COMMIT in the test database (through PgBouncer: any of its server connections). */
  function commitRunning(): Promise<number> {
    return pollFor(
      'COMMIT to be running',
      async () => {
        const { rows } = await db.admin(
          `select pid from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid()
              and state = 'active' and query = 'COMMIT'`,
        );
        return (rows[0] as { pid: number } | undefined)?.pid;
      },
      { timeoutMillis: 900, everyMillis: 10 },
    );
  }

  it('a COMMIT lost between pg-scope and PgBouncer is resolved through PgBouncer: committed, one row', async () => {
    const proxy = await startFaultProxy({ host: bouncer.host, port: bouncer.port });
    try {
      const pool = bouncedPool({ host: proxy.host, port: proxy.port, max: 2 });
      let runs = 0;
      const outcome = pool.transaction(async (tx) => {
        runs++;
        await tx.query('insert into slow_items values (1)');
        return 'value';
      });
      await commitRunning();
      proxy.cutAll();
      expect(await outcome).toBe('value');
      expect(runs).toBe(1);
      expect(await idsIn(db, 'slow_items')).toEqual([1]);
    } finally {
      await proxy.close();
    }
  });

  it('the server backend terminated during COMMIT behind PgBouncer: with retry, committed exactly once', async () => {
    const pool = bouncedPool({ max: 2 });
    let runs = 0;
    const outcome = pool.transaction(
      async (tx) => {
        runs++;
        await tx.query('insert into slow_items values (2)');
        return runs;
      },
      { retry: { maxAttempts: 3, baseDelayMillis: 5, maxDelayMillis: 20 } },
    );
    expect(await terminateBackend(db, await commitRunning())).toBe(true);
    expect(await outcome).toBe(2);
    expect((await idsIn(db, 'slow_items')).filter((id) => id === 2)).toEqual([2]);
  });
});
