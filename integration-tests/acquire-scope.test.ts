import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, type Connection, createPool, type Pool, ScopeClosedError } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';
import { appName, captureLog, pollUntil } from './support/pool-test-kit.js';

describe('the acquire scope', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = appName('acquire');
    pool = createPool({
      ...db.config,
      application_name: app,
      max: 2,
      acquireTimeoutMillis: 5_000,
      logger: captureLog('warn').logger,
    });
  });

  afterAll(async () => {
    await pool?.close({ timeoutMillis: 0 });
    await db?.drop();
  });

  async function pidOf(conn: Connection): Promise<number> {
    const { rows } = await conn.query<{ pid: number }>('select pg_backend_pid() as pid');
    const pid = rows[0]?.pid;
    if (pid === undefined) throw new Error('no pid');
    return pid;
  }

  it("callback form resolves with the callback's value and gives the connection back", async () => {
    const before = pool.stats();
    const value = await pool.acquire(async (conn) => {
      expect(pool.stats().borrowed).toBe(1);
      const { rows } = await conn.query<{ n: number }>('select $1::int + 1 as n', [41]);
      return { n: rows[0]?.n };
    });

    expect(value).toEqual({ n: 42 });
    expect(pool.stats()).toMatchObject({ borrowed: 0, acquired: before.acquired + 1 });
    expect(pool.stats().idle).toBeGreaterThanOrEqual(1);
  });

  it('callback form accepts a callback that is not async', async () => {
    await expect(pool.acquire(() => 'plain')).resolves.toBe('plain');
    expect(pool.stats().borrowed).toBe(0);
  });

  it("callback form rejects with the callback's own error object and reuses the connection", async () => {
    const firstPid = await pool.acquire(pidOf);
    const destroyedBefore = pool.stats().destroyed;
    const boom = new Error('boom');

    const outcome = pool.acquire(async (conn) => {
      await conn.query('select 1');
      throw boom;
    });

    await expect(outcome).rejects.toBe(boom);
    expect(pool.stats().borrowed).toBe(0);
    // An application error says nothing against the connection: it is kept.
    expect(pool.stats().destroyed).toBe(destroyedBefore);
    expect(await pool.acquire(pidOf)).toBe(firstPid);
  });

  it("passes pg's DatabaseError through unchanged", async () => {
    let thrown: unknown;
    const outcome = pool.acquire(async (conn) => {
      try {
        await conn.query('select * from no_such_table');
      } catch (err) {
        thrown = err;
        throw err;
      }
    });

    await expect(outcome).rejects.toBeInstanceOf(pg.DatabaseError);
    await expect(outcome).rejects.toBe(thrown);
    await expect(outcome).rejects.toMatchObject({ code: '42P01' });
    expect(pool.stats().borrowed).toBe(0);
  });

  it('await using form gives the connection back when the block ends', async () => {
    let outside: Connection | undefined;
    {
      await using conn = await pool.acquire();
      outside = conn;
      expect(conn.released).toBe(false);
      expect(pool.stats().borrowed).toBe(1);
      const { rows } = await conn.query<{ one: number }>('select 1 as one');
      expect(rows).toEqual([{ one: 1 }]);
    }

    expect(pool.stats().borrowed).toBe(0);
    expect(outside.released).toBe(true);
    await expect(outside.query('select 1')).rejects.toBeInstanceOf(ScopeClosedError);
  });

  it('await using form gives the connection back when the block throws', async () => {
    const boom = new Error('thrown inside the block');
    let caught: unknown;
    try {
      await using conn = await pool.acquire();
      await conn.query('select 1');
      throw boom;
    } catch (err) {
      caught = err;
    }

    expect(caught).toBe(boom);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('release() is idempotent and gives the connection back once', async () => {
    const conn = await pool.acquire();
    const pid = await pidOf(conn);
    const before = pool.stats();

    const first = conn.release();
    const second = conn.release();
    await Promise.all([first, second]);
    await conn.release();
    await conn[Symbol.asyncDispose]();

    expect(conn.released).toBe(true);
    const after = pool.stats();
    expect(after.borrowed).toBe(before.borrowed - 1);
    expect(after.idle).toBe(before.idle + 1);
    expect(after.destroyed).toBe(before.destroyed);
    // The same connection is handed out again, exactly once.
    const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
    if (!a || !b) throw new Error('acquire failed');
    const pids = [await pidOf(a), await pidOf(b)];
    expect(pids.filter((p) => p === pid)).toHaveLength(1);
    await Promise.all([a.release(), b.release()]);
  });

  it('a released handle rejects queries and refuses its client with ScopeClosedError', async () => {
    const conn = await pool.acquire();
    await conn.release();
    const acquiredBefore = pool.stats().acquired;

    const err = await conn.query('select 1').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ScopeClosedError);
    expect(err).toMatchObject({ code: 'SCOPE_CLOSED', name: 'ScopeClosedError' });

    expect(() => conn.client).toThrow(ScopeClosedError);
    let clientErr: unknown;
    try {
      void conn.client;
    } catch (e) {
      clientErr = e;
    }
    expect(clientErr).toMatchObject({ code: 'SCOPE_CLOSED' });
    // Refused without touching the pool.
    expect(pool.stats()).toMatchObject({ borrowed: 0, acquired: acquiredBefore });
  });

  it('a handle kept after the callback returned is closed too', async () => {
    let kept: Connection | undefined;
    await pool.acquire(async (conn) => {
      kept = conn;
      expect(() => conn.client).not.toThrow();
    });
    if (!kept) throw new Error('callback did not run');
    await expect(kept.query('select 1')).rejects.toMatchObject({ code: 'SCOPE_CLOSED' });
    expect(() => kept?.client).toThrow(ScopeClosedError);
  });

  it('conn.client is the pg.Client while the scope is open', async () => {
    await pool.acquire(async (conn) => {
      expect(conn.client).toBeInstanceOf(pg.Client);
      const { rows } = await conn.client.query<{ db: string }>('select current_database() as db');
      expect(rows[0]?.db).toBe(db.name);
    });
    expect(pool.stats().borrowed).toBe(0);
  });

  it('pool.query() runs one query on a pooled connection', async () => {
    const { rows } = await pool.query<{ n: number; app: string }>(
      "select $1::int * 2 as n, current_setting('application_name') as app",
      [21],
    );
    expect(rows).toEqual([{ n: 42, app }]);

    const viaConfig = await pool.query<{ s: string }>({ text: 'select $1::text as s', values: ['cfg'] });
    expect(viaConfig.rows).toEqual([{ s: 'cfg' }]);

    await expect(pool.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
    expect(pool.stats().borrowed).toBe(0);
  });

  it('a scope that ends while its query still runs destroys the connection instead of reusing it', async () => {
    const destroyedBefore = pool.stats().destroyed;
    let pid = 0;
    let running: Promise<unknown> | undefined;
    await pool.acquire(async (conn) => {
      pid = await pidOf(conn);
      running = conn.query('select pg_sleep(30)').catch((err: unknown) => err);
    });

    expect(pool.stats().borrowed).toBe(0);
    expect(pool.stats().destroyed).toBe(destroyedBefore + 1);
    // The backend does not go on sleeping for nobody.
    const gone = await pollUntil(
      () => db.admin('select count(*)::int as n from pg_stat_activity where pid = $1', [pid]),
      (r) => r.rows[0]?.n === 0,
    );
    expect(gone.rows[0]?.n).toBe(0);
    await running;
    expect(await pool.acquire(pidOf)).not.toBe(pid);
  });

  it('rejects bad acquire options with ConfigError before borrowing anything', async () => {
    const before = pool.stats();
    const bad = [
      pool.acquire({ timeoutMillis: -1 }),
      pool.acquire({ timeoutMillis: Number.NaN }),
      pool.acquire(async () => 1, { timeoutMillis: '100' as unknown as number }),
      pool.acquire({ signal: 'stop' as unknown as AbortSignal }),
      pool.acquire({ timeout: 100 } as unknown as { timeoutMillis: number }),
    ];
    const errors = await Promise.all(
      bad.map((p) =>
        p.then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    );
    for (const err of errors) {
      expect(err).toBeInstanceOf(ConfigError);
      expect(err).toMatchObject({ code: 'INVALID_CONFIG' });
    }
    expect(errors.map((e) => (e as ConfigError).field)).toEqual([
      'timeoutMillis',
      'timeoutMillis',
      'timeoutMillis',
      'signal',
      'timeout',
    ]);
    expect(pool.stats()).toMatchObject({ acquired: before.acquired, borrowed: 0 });
  });

  it('borrowed is 0 and the connections are still open after every path above', async () => {
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0 });
    const open = await countConnections(db.name, app);
    expect(open).toBe(pool.stats().idle);
    expect(open).toBeLessThanOrEqual(2);
    await pool.close();
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
  });
});
