import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, NestedAcquireError, type Pool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import {
  appName,
  captureLog,
  Level,
  type LogLine,
  rejection,
  type Settled,
  settle,
} from './support/pool-test-kit.js';

describe('nested acquire', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(config: PoolConfig) {
    const log = captureLog('debug');
    const pool = createPool({
      ...db.config,
      application_name: appName('nested'),
      logger: log.logger,
      acquireTimeoutMillis: 5_000,
      ...config,
    });
    pools.push(pool);
    return { pool, log };
  }

  /** How many string fields of a log line carry a stack trace through this file. */
  function stacksInLine(line: LogLine): number {
    return Object.values(line).filter(
      (value) => typeof value === 'string' && value.includes('nested-acquire.test'),
    ).length;
  }

  describe("'error'", () => {
    it('rejects an acquire from inside a scope of the same pool at once instead of deadlocking', async () => {
      const { pool } = makePool({ max: 1, nestedAcquire: 'error' });
      let inner: unknown;
      const outcome = await settle(
        pool.acquire(async () => {
          try {
            return await pool.acquire(async () => 'inner');
          } catch (err) {
            inner = err;
            throw err;
          }
        }),
      );

      // At once: nowhere near the 5 s the inner acquire would wait for the connection its own caller holds.
      expect(outcome.millis).toBeLessThan(1_000);
      expect(inner).toBeInstanceOf(NestedAcquireError);
      expect(inner).toMatchObject({ code: 'NESTED_ACQUIRE', name: 'NestedAcquireError' });
      expect(rejection(outcome)).toBe(inner);
      expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0, acquired: 1, exhausted: 0 });
    });

    it('also rejects the await using form, and an acquire with options, from inside a scope', async () => {
      const { pool } = makePool({ max: 2, nestedAcquire: 'error' });
      await pool.acquire(async (conn) => {
        await expect(pool.acquire()).rejects.toBeInstanceOf(NestedAcquireError);
        await expect(pool.acquire(async () => 1, { timeoutMillis: 100 })).rejects.toBeInstanceOf(
          NestedAcquireError,
        );
        // The scope's own connection still works.
        await expect(conn.query('select 1 as one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
      });
      expect(pool.stats()).toMatchObject({ borrowed: 0, acquired: 1 });
    });

    it('is detected through nested async functions and timers started inside the scope', async () => {
      const { pool } = makePool({ max: 2, nestedAcquire: 'error' });
      const deep = async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return pool.acquire(async () => 'deep');
      };
      await pool.acquire(async () => {
        await expect(deep()).rejects.toBeInstanceOf(NestedAcquireError);
      });
      expect(pool.stats()).toMatchObject({ borrowed: 0, acquired: 1 });
    });

    it('does not reject scopes that merely run side by side, or an acquire of another pool', async () => {
      const { pool } = makePool({ max: 2, nestedAcquire: 'error' });
      const { pool: other } = makePool({ max: 1, nestedAcquire: 'error' });
      const values = await Promise.all([
        pool.acquire(async (conn) => (await conn.query<{ n: number }>('select 1 as n')).rows[0]?.n),
        pool.acquire(async (conn) => (await conn.query<{ n: number }>('select 2 as n')).rows[0]?.n),
        pool.acquire(async () =>
          other.acquire(async (conn) => (await conn.query<{ n: number }>('select 3 as n')).rows[0]?.n),
        ),
      ]);
      expect(values).toEqual([1, 2, 3]);
    });

    it('allows an acquire made after the scope has ended, even from work the scope started', async () => {
      const { pool } = makePool({ max: 1, nestedAcquire: 'error' });
      let later: Promise<number | undefined> | undefined;
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      await pool.acquire(async () => {
        // Started inside the scope, runs after it ended.
        later = gate.then(() =>
          pool.acquire(async (conn) => (await conn.query<{ n: number }>('select 9 as n')).rows[0]?.n),
        );
      });
      release();
      await expect(later).resolves.toBe(9);
    });
  });

  describe("'warn' (the default)", () => {
    it("logs pool.nestedAcquire at warn with the inner stack and the outer scope's id, and lets the acquire go ahead", async () => {
      const { pool, log } = makePool({ max: 2 });
      let outerScopeId = '';
      const value = await pool.acquire(async (outer) => {
        outerScopeId = outer.scopeId;
        return pool.acquire(async (conn) => (await conn.query<{ n: number }>('select 11 as n')).rows[0]?.n);
      });

      expect(value).toBe(11);
      const lines = log.withEvent('pool.nestedAcquire');
      expect(lines).toHaveLength(1);
      const line = lines[0] as LogLine;
      expect(line.level).toBe(Level.warn);
      expect(line.scopeId).toBe(outerScopeId);
      // Without leak detection no stack is captured per acquire (it would cost every acquire a few µs):
      // the inner acquire's stack is taken when the nesting is found, and it leads through this file.
      expect(stacksInLine(line)).toBe(1);
      expect(line.outerStack).toBeUndefined();
      expect(pool.stats()).toMatchObject({ borrowed: 0, acquired: 2 });
    });

    it('logs both stacks when leak detection captures where each connection was acquired', async () => {
      const { pool, log } = makePool({ max: 2, leakDetectionMillis: 60_000 });
      const value = await pool.acquire(async () =>
        pool.acquire(async (conn) => (await conn.query<{ n: number }>('select 11 as n')).rows[0]?.n),
      );

      expect(value).toBe(11);
      const lines = log.withEvent('pool.nestedAcquire');
      expect(lines).toHaveLength(1);
      const line = lines[0] as LogLine;
      expect(line.level).toBe(Level.warn);
      // The inner acquire's stack and the outer scope's: both point into this file.
      expect(stacksInLine(line)).toBeGreaterThanOrEqual(2);
      expect(pool.stats()).toMatchObject({ borrowed: 0, acquired: 2 });
    });

    it('does not log for acquires that are not nested', async () => {
      const { pool, log } = makePool({ max: 2, nestedAcquire: 'warn' });
      await Promise.all([pool.query('select 1'), pool.acquire(async () => 1)]);
      await pool.acquire(async () => 2);
      expect(log.withEvent('pool.nestedAcquire')).toHaveLength(0);
    });
  });

  describe("'allow'", () => {
    it('lets a nested acquire go ahead and logs nothing about it', async () => {
      const { pool, log } = makePool({ max: 2, nestedAcquire: 'allow' });
      const value = await pool.acquire(async () =>
        pool.acquire(async (conn) => (await conn.query<{ n: number }>('select 12 as n')).rows[0]?.n),
      );

      expect(value).toBe(12);
      expect(log.withEvent('pool.nestedAcquire')).toHaveLength(0);
      expect(log.lines.filter((line) => line.level >= Level.warn)).toHaveLength(0);
      expect(pool.stats()).toMatchObject({ borrowed: 0, acquired: 2 });
    });
  });

  describe("propagation: 'requiresNew' on a full pool", () => {
    /**
     * Two callers on `max: 2` each hold one connection (a transaction) and, once both hold theirs, ask for a
     * requiresNew transaction: a second connection nobody will give back.
     */
    async function twoHoldersAskForASecond(pool: Pool): Promise<Settled<unknown>[]> {
      let holding = 0;
      let bothHold = (): void => {};
      const both = new Promise<void>((resolve) => {
        bothHold = resolve;
      });
      return Promise.all(
        [1, 2].map((n) =>
          settle(
            pool.transaction(async (tx) => {
              await tx.query('select 1');
              if (++holding === 2) bothHold();
              await both;
              return pool.transaction((inner) => inner.query('select $1::int as n', [n]), {
                propagation: 'requiresNew',
              });
            }),
          ),
        ),
      );
    }

    it("'warn': warns for each caller, with the inner stack and the outer scope; the deadlock ends at the timeout", async () => {
      const { pool, log } = makePool({ max: 2, nestedAcquire: 'warn', acquireTimeoutMillis: 300 });
      const outcomes = await twoHoldersAskForASecond(pool);
      // The first inner acquire to time out ends its caller's transaction, whose connection may then reach the
      // other caller's inner acquire before that one's deadline: at least one is refused, none hangs.
      const refused = outcomes.filter((outcome) => !outcome.ok);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const outcome of refused) expect(rejection(outcome)).toMatchObject({ code: 'POOL_EXHAUSTED' });
      const lines = log.withEvent('pool.nestedAcquire');
      expect(lines).toHaveLength(2);
      for (const line of lines) {
        expect(line.level).toBe(Level.warn);
        expect(line.scopeId).toEqual(expect.any(String));
        expect(stacksInLine(line)).toBeGreaterThanOrEqual(1);
      }
      expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0 });
    });

    it("'error': rejects with NestedAcquireError at once instead of waiting", async () => {
      const { pool } = makePool({ max: 2, nestedAcquire: 'error', acquireTimeoutMillis: 5_000 });
      const outcomes = await twoHoldersAskForASecond(pool);
      for (const outcome of outcomes) {
        expect(rejection(outcome)).toBeInstanceOf(NestedAcquireError);
        expect(outcome.millis).toBeLessThan(2_000);
      }
      expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0, exhausted: 0 });
    });

    it("'allow': says nothing; and with room in the pool, requiresNew never warns", async () => {
      const allowed = makePool({ max: 2, nestedAcquire: 'allow', acquireTimeoutMillis: 200 });
      await twoHoldersAskForASecond(allowed.pool);
      expect(allowed.log.withEvent('pool.nestedAcquire')).toHaveLength(0);

      const roomy = makePool({ max: 4, nestedAcquire: 'error' });
      const outcomes = await twoHoldersAskForASecond(roomy.pool);
      expect(outcomes.map((o) => o.ok)).toEqual([true, true]);
      expect(roomy.log.withEvent('pool.nestedAcquire')).toHaveLength(0);
    });
  });
});
