import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connection, createPool, type Pool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog, Level } from './support/pool-test-kit.js';

describe('what a scope leaves on its connection', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  /** A pool of one connection, so the next scope is sure to get the same one. */
  function makePool(config: PoolConfig = {}) {
    const log = captureLog('debug');
    const pool = createPool({
      ...db.config,
      application_name: appName('reset'),
      logger: log.logger,
      max: 1,
      ...config,
    });
    pools.push(pool);
    return { pool, log };
  }

  async function pidOf(conn: Connection): Promise<number> {
    const { rows } = await conn.query<{ pid: number }>('select pg_backend_pid() as pid');
    const pid = rows[0]?.pid;
    if (pid === undefined) throw new Error('no pid');
    return pid;
  }

  async function itemIds(): Promise<number[]> {
    const { rows } = await db.admin('select id from items order by id');
    return rows.map((row) => row.id as number);
  }

  async function showSetting(conn: Connection, name: string): Promise<string | null> {
    const { rows } = await conn.query<{ value: string | null }>('select current_setting($1, true) as value', [
      name,
    ]);
    return rows[0]?.value ?? null;
  }

  describe("resetOnRelease 'rollback' (the default)", () => {
    it('rolls back a transaction begun by hand and left open, and reuses the connection', async () => {
      const { pool, log } = makePool();
      const warnsBefore = log.lines.filter((line) => line.level >= Level.warn).length;

      // The scope itself resolves: what the block did is the caller's.
      const pid = await pool.acquire(async (conn) => {
        await conn.query('begin');
        await conn.query('insert into items values (1)');
        return pidOf(conn);
      });

      expect(await itemIds()).not.toContain(1);
      expect(log.lines.filter((line) => line.level >= Level.warn).length).toBeGreaterThan(warnsBefore);
      await pool.acquire(async (conn) => {
        expect(await pidOf(conn)).toBe(pid);
        expect(conn.client.getTransactionStatus()).toBe('I');
        // Not inside a transaction any more: now() is this statement's own time.
        const { rows } = await conn.query<{ fresh: boolean }>(
          'select now() = statement_timestamp() as fresh',
        );
        expect(rows[0]?.fresh).toBe(true);
        // And a statement without BEGIN commits by itself.
        await conn.query('insert into items values (2)');
      });
      expect(await itemIds()).toContain(2);
      expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: 0, created: 1 });
    });

    it('rolls back a transaction left open by an await using block', async () => {
      const { pool } = makePool();
      let pid = 0;
      {
        await using conn = await pool.acquire();
        pid = await pidOf(conn);
        await conn.query('begin');
        await conn.query('insert into items values (3)');
      }

      expect(await itemIds()).not.toContain(3);
      await pool.acquire(async (conn) => {
        expect(await pidOf(conn)).toBe(pid);
        expect(conn.client.getTransactionStatus()).toBe('I');
      });
      expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: 0 });
    });

    it('rolls back a transaction left in the failed state, and the scope still rejects with its own error', async () => {
      const { pool } = makePool();
      const outcome = pool.acquire(async (conn) => {
        await conn.query('begin');
        await conn.query('insert into items values (4)');
        await conn.query('select 1/0');
      });
      await expect(outcome).rejects.toMatchObject({ code: '22012' });

      expect(await itemIds()).not.toContain(4);
      await pool.acquire(async (conn) => {
        expect(conn.client.getTransactionStatus()).toBe('I');
        await expect(conn.query('select 1 as one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
      });
      expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: 0 });
    });

    it('keeps session settings (SET) for the next borrower: only the transaction is reset', async () => {
      const { pool } = makePool();
      const pid = await pool.acquire(async (conn) => {
        await conn.query("set statement_timeout = '1234ms'");
        await conn.query("set app.x = 'y'");
        return pidOf(conn);
      });
      await pool.acquire(async (conn) => {
        expect(await pidOf(conn)).toBe(pid);
        expect(await showSetting(conn, 'statement_timeout')).toBe('1234ms');
        expect(await showSetting(conn, 'app.x')).toBe('y');
      });
    });
  });

  describe("resetOnRelease 'discard'", () => {
    it('gives the next borrower a clean session: settings, LISTEN, temp tables and advisory locks are gone', async () => {
      const { pool } = makePool({ resetOnRelease: 'discard' });
      let defaultTimeout: string | null = null;
      const pid = await pool.acquire(async (conn) => {
        defaultTimeout = await showSetting(conn, 'statement_timeout');
        await conn.query("set statement_timeout = '1234ms'");
        await conn.query("set app.x = 'y'");
        await conn.query('listen some_channel');
        await conn.query('create temp table scratch (x int)');
        await conn.query('select pg_advisory_lock(4242)');
        expect(await showSetting(conn, 'statement_timeout')).toBe('1234ms');
        return pidOf(conn);
      });
      expect(defaultTimeout).not.toBe('1234ms');

      await pool.acquire(async (conn) => {
        expect(await pidOf(conn)).toBe(pid);
        expect(await showSetting(conn, 'statement_timeout')).toBe(defaultTimeout);
        expect(await showSetting(conn, 'app.x')).not.toBe('y');
        const listening = await conn.query<{ n: number }>(
          'select count(*)::int as n from pg_listening_channels()',
        );
        expect(listening.rows[0]?.n).toBe(0);
        const temp = await conn.query<{ t: string | null }>(
          "select to_regclass('pg_temp.scratch')::text as t",
        );
        expect(temp.rows[0]?.t).toBeNull();
        const locks = await conn.query<{ n: number }>(
          "select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()",
        );
        expect(locks.rows[0]?.n).toBe(0);
      });
      expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: 0, created: 1 });
    });

    it('also rolls back a transaction left open', async () => {
      const { pool } = makePool({ resetOnRelease: 'discard' });
      await pool.acquire(async (conn) => {
        await conn.query('begin');
        await conn.query('insert into items values (5)');
        await conn.query("set app.x = 'in-tx'");
      });
      expect(await itemIds()).not.toContain(5);
      await pool.acquire(async (conn) => {
        expect(conn.client.getTransactionStatus()).toBe('I');
        expect(await showSetting(conn, 'app.x')).not.toBe('in-tx');
      });
      expect(pool.stats()).toMatchObject({ borrowed: 0, destroyed: 0 });
    });

    it("keeps the pool's own session default (statementTimeoutMillis) across the reset", async () => {
      const { pool } = makePool({ resetOnRelease: 'discard', statementTimeoutMillis: 4321 });
      await pool.acquire(async (conn) => {
        expect(await showSetting(conn, 'statement_timeout')).toBe('4321ms');
        await conn.query("set statement_timeout = '1234ms'");
      });
      await pool.acquire(async (conn) => {
        expect(await showSetting(conn, 'statement_timeout')).toBe('4321ms');
      });
    });
  });
});
