import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectError, createPool, type Pool, type PoolConfig } from '../src/index.js';
import { closedPort } from './setup/closed-port.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
type LevelName = (typeof LEVELS)[number];

/**
 * A logger that answers `isLevelEnabled` as told and records every call of a log method. A call means the
 * caller built its payload; with a level off, pg-scope must not even do that.
 */
function recordingLogger(enabled: ReadonlySet<LevelName>) {
  const calls: Array<{ level: LevelName; event: unknown }> = [];
  const logger: Record<string, unknown> = {
    level: 'recording',
    isLevelEnabled: (level: string) => enabled.has(level as LevelName),
    child: () => logger,
    silent: () => {},
  };
  for (const level of LEVELS) {
    logger[level] = (obj: { event?: unknown }) => {
      calls.push({ level, event: obj?.event });
    };
  }
  return { logger: logger as unknown as Logger, calls };
}

describe('log levels that are off cost no payload', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  /** Everyday traffic: acquires, a query, commits and rollbacks of every kind, a retry, savepoints. */
  async function everydayTraffic(pool: Pool): Promise<void> {
    await pool.query('select 1');
    await pool.acquire((conn) => conn.query('select 1'));
    await pool.transaction(async (tx) => {
      await tx.query('select 1');
      await tx.transaction((sp) => sp.query('select 2'));
      await tx
        .transaction(async () => {
          throw new Error('undo the savepoint');
        })
        .catch(() => undefined);
    });
    await pool
      .transaction(async (tx) => {
        await tx.query('select 1');
        throw new Error('roll back');
      })
      .catch(() => undefined);
    {
      await using tx = await pool.transaction();
      await tx.query('select 1');
    }
    {
      await using tx = await pool.transaction();
      await tx.query('select 1');
      await tx.rollback();
    }
    let attempts = 0;
    await pool.transaction(
      async (tx) => {
        await tx.query('select 1');
        if (++attempts === 1) throw Object.assign(new Error('serialization failure'), { code: '40001' });
      },
      { retry: { maxAttempts: 2, baseDelayMillis: 1 } },
    );
  }

  /** The unusual: nested and slow acquires, exhaustion, a leak, a hand-made open transaction, a broken connection. */
  async function unusualTraffic(pool: Pool, app: string): Promise<void> {
    await pool.acquire(async (outer) => {
      await outer.query('select 1');
      await pool.acquire((inner) => inner.query('select 1'));
    });
    await pool.acquire(async (conn) => {
      await conn.query('begin');
    });
    const a = await pool.acquire();
    const b = await pool.acquire();
    const waiting = pool.acquire();
    await expect(pool.acquire({ timeoutMillis: 0 })).rejects.toMatchObject({ reason: 'no-wait' });
    await sleep(80);
    await a.release();
    await (await waiting).release();
    await b.release();
    await db.admin(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = $2',
      [db.name, app],
    );
    // Time for both connections to hear that their backends are gone (no log line to wait for here).
    await sleep(300);
    await pool.query('select 1');
  }

  function poolFor(logger: Logger, app: string, options: PoolConfig = {}) {
    return createPool({
      connectionString: db.url,
      application_name: app,
      max: 2,
      leakDetectionMillis: 40,
      slowAcquireMillis: 20,
      logger,
      ...options,
    });
  }

  it('calls no log method at all when every level is off, whatever happens', async () => {
    const { logger, calls } = recordingLogger(new Set());
    const app = 'logging-levels-off';
    const pool = poolFor(logger, app);
    await everydayTraffic(pool);
    await unusualTraffic(pool, app);
    await pool.close();

    const refused = createPool({
      host: '127.0.0.1',
      port: await closedPort(),
      acquireTimeoutMillis: 300,
      logger,
    });
    await expect(refused.query('select 1')).rejects.toBeInstanceOf(ConnectError);
    await refused.close();
    expect(calls).toEqual([]);
  });

  it('calls only warn and error at warn, and nothing at all for everyday traffic', async () => {
    const { logger, calls } = recordingLogger(new Set(['warn', 'error', 'fatal']));
    const app = 'logging-levels-warn';
    const pool = poolFor(logger, app, { leakDetectionMillis: 0, slowAcquireMillis: 10_000 });
    await everydayTraffic(pool);
    expect(calls).toEqual([]);

    await unusualTraffic(pool, app);
    await pool.close();
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => c.level !== 'warn' && c.level !== 'error')).toEqual([]);
    expect(new Set(calls.map((c) => c.event))).toEqual(
      new Set(['pool.nestedAcquire', 'pool.reset', 'pool.exhausted', 'conn.error', 'pool.destroy']),
    );
  });
});
