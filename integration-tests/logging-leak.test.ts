import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs, Level, type LogCapture } from './setup/log-capture.js';

/** `file:line:` of the first frame in this test file, in the form V8 stack frames use. */
function testFileLocation(stack: string | undefined): string {
  const match = /(logging-leak\.test\.ts:\d+:)/.exec(stack ?? '');
  if (!match?.[1]) throw new Error(`no frame of this test file in:\n${stack}`);
  return match[1];
}

describe('leak detection', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  function poolFor(capture: LogCapture, options: PoolConfig = {}) {
    return createPool({ connectionString: db.url, logger: capture.logger, ...options });
  }

  it("warns once, with the acquirer's file and line, when a connection is held too long; then logs its end", async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture, { leakDetectionMillis: 100 });
    // Both on one line: the reference error tells which line the acquire is on.
    const [acquiring, here] = [pool.acquire(), new Error('reference')];
    const conn = await acquiring;
    await conn.query('select 1');
    await sleep(400);

    const leaks = capture.events('leak');
    expect(leaks).toHaveLength(1);
    expect(leaks[0]).toMatchObject({ level: Level.warn, scopeId: conn.scopeId });
    expect(leaks[0]?.heldMillis).toBeGreaterThanOrEqual(100);
    expect(leaks[0]?.stack).toContain(testFileLocation(here.stack));
    expect(capture.records().filter((r) => r.level >= Level.warn)).toHaveLength(1);
    expect(capture.events('leak.ended')).toHaveLength(0);

    await conn.release();
    const ended = capture.events('leak.ended');
    expect(ended).toMatchObject([{ level: Level.info, scopeId: conn.scopeId }]);
    expect(ended[0]?.heldMillis).toBeGreaterThanOrEqual(400);
  });

  it('finds the caller of a transaction scope that holds its connection too long', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture, { leakDetectionMillis: 50 });
    // Both on one line: the reference error tells which line the transaction starts on.
    const [running, here] = [pool.transaction((tx) => tx.query('select pg_sleep(0.2)')), new Error()];
    await running;
    const leaks = capture.events('leak');
    expect(leaks).toHaveLength(1);
    expect(leaks[0]?.stack).toContain(testFileLocation(here.stack));
    expect(capture.events('leak.ended')).toMatchObject([{ scopeId: leaks[0]?.scopeId }]);
  });

  it('says nothing about a connection given back in time', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture, { leakDetectionMillis: 200 });
    for (let i = 0; i < 3; i++) await pool.acquire((conn) => conn.query('select 1'));
    await sleep(300);
    expect(capture.events('leak')).toHaveLength(0);
    expect(capture.events('leak.ended')).toHaveLength(0);
  });

  it('is off by default: no leak line however long the connection is held', async () => {
    const capture = captureLogs();
    await using pool = poolFor(capture);
    await pool.acquire(async (conn) => {
      await conn.query('select 1');
      await sleep(200);
    });
    expect(capture.events('leak')).toHaveLength(0);
  });
});
