import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectError, createPool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs, type LogCapture } from './setup/log-capture.js';

/** 156 KB of user input that a server error echoes: what made the old URL-password pattern backtrack. */
const ECHOED = 'postgres://a:'.repeat(12_000);
/** A statement whose error message is 208 KB of text from the server itself. */
const HUGE_SERVER_ERROR = "select repeat('postgres://a:', 16000)::int";
/** A RAISE with a 208 KB message and a 208 KB detail. */
const HUGE_RAISE =
  "do $$ begin raise exception '%', repeat('postgres://a:', 16000) using detail = repeat('postgres://b:', 16000); end $$";

/**
 * The longest stall allowed. The backtracking pattern this guards against took seconds on these texts; a loaded
 * 2-core machine deschedules the process for about 100 ms at times, so the bound sits well above that.
 */
const STALL_BOUND_MILLIS = 400;

/** The longest the event loop went without running a 5 ms interval timer, beyond its period. */
function watchEventLoop(): () => number {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 5);
    last = now;
  }, 5);
  return () => {
    clearInterval(timer);
    return Math.max(worst, performance.now() - last - 5);
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('huge error texts neither stall the event loop nor bloat messages and log lines', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  function poolAt(capture: LogCapture, config: PoolConfig = {}) {
    return createPool({ connectionString: db.url, logger: capture.logger, ...config });
  }

  /** Every log line is bounded, and any err it carries was cut with its length noted. */
  function expectBoundedLines(capture: LogCapture): void {
    for (const line of capture.lines) expect(line.length).toBeLessThan(48_000);
    for (const record of capture.records()) {
      const err = record.err as { message?: string } | undefined;
      if (err?.message && err.message.length > 8_000) expect(err.message).toContain('[truncated: ');
    }
  }

  it.each(['debug', 'warn', 'silent'])('statement errors at log level %s', async (level) => {
    const capture = captureLogs(level);
    await using pool = poolAt(capture);
    await pool.query('select 1');
    const statements: Array<[string, unknown[] | undefined]> = [
      ['select $1::int', [ECHOED]],
      [HUGE_SERVER_ERROR, undefined],
      [HUGE_RAISE, undefined],
    ];
    for (const [sql, values] of statements) {
      const stop = watchEventLoop();
      const err = await rejectionOf(pool.transaction((tx) => tx.query(sql, values)));
      const inspected = inspect(err);
      const stall = stop();
      // pg's own error reaches the caller whole: only what the library builds and logs is cut.
      expect((err as Error).message.length).toBeGreaterThan(150_000);
      expect(inspected.length).toBeGreaterThan(150_000);
      expect(stall, `${level}: ${sql.slice(0, 30)}`).toBeLessThan(STALL_BOUND_MILLIS);
    }
    if (level === 'debug') {
      const rollbacks = capture.events('tx.rollback');
      expect(rollbacks).toHaveLength(3);
      for (const r of rollbacks) expect((r.err as { message: string }).message).toContain('[truncated: ');
    }
    expectBoundedLines(capture);
    expect(pool.stats()).toMatchObject({ borrowed: 0, rollbacks: 3 });
  });

  it.each(['debug', 'warn', 'silent'])(
    'a connection failure with a 208 KB error at log level %s',
    async (level) => {
      const capture = captureLogs(level);
      await using pool = poolAt(capture, {
        onConnect: async (client) => {
          await client.query(HUGE_SERVER_ERROR);
        },
      });
      const stop = watchEventLoop();
      const err = await rejectionOf(pool.acquire());
      const text = [
        JSON.stringify(err),
        inspect(err, { depth: 6, showHidden: true }),
        String((err as Error).stack),
      ];
      const stall = stop();
      expect(err).toBeInstanceOf(ConnectError);
      const message = (err as Error).message;
      // 8 KB of the server's text, the note of its length, and the library's own words.
      expect(message.length).toBeLessThan(8_192 + 200);
      expect(message).toContain(
        `[truncated: ${((err as Error).cause as Error).message.length} characters in all]`,
      );
      for (const t of text) expect(t.length).toBeLessThan(64_000);
      expect(stall, level).toBeLessThan(STALL_BOUND_MILLIS);
      if (level !== 'silent') expect(capture.events('pool.connectError')).toHaveLength(1);
      expectBoundedLines(capture);
      expect(pool.stats().borrowed).toBe(0);
    },
  );
});
