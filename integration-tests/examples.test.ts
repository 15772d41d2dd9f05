import { readdir, readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main as bankTransfer } from '../examples/bank-transfer.js';
import { main as boundedPool } from '../examples/bounded-pool.js';
import { main as cleanupOnError } from '../examples/cleanup-on-error.js';
import { main as openTelemetry } from '../examples/opentelemetry.js';
import { main as scopeLifecycle } from '../examples/scope-lifecycle.js';
import { main as timing } from '../examples/timing.js';
import { createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';

/** Every example runs in a database of its own, and must leave no connection behind. */
describe('examples/', () => {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await db?.drop();
  });

  async function expectNoConnectionsLeft(): Promise<void> {
    // The pools are closed by `await using` before main() resolves; backends leave pg_stat_activity shortly.
    expect(await waitForConnections(db.name, 0)).toBe(0);
  }

  it('has a test for every example file', async () => {
    const examples = (await readdir(resolve(import.meta.dirname, '../examples')))
      .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
      .map((f) => basename(f, '.ts'));
    const tests = await Promise.all(
      (await readdir(import.meta.dirname))
        .filter((f) => f.endsWith('.test.ts'))
        .map((f) => readFile(resolve(import.meta.dirname, f), 'utf8')),
    );
    const untested = examples.filter(
      (name) => !tests.some((text) => text.includes(`../examples/${name}.js'`)),
    );
    expect(untested).toEqual([]);
    expect(examples).toEqual(
      expect.arrayContaining([
        'bank-transfer',
        'bounded-pool',
        'cleanup-on-error',
        'scope-lifecycle',
        'timing',
      ]),
    );
  });

  it('scope-lifecycle: both forms lend a connection and give it back', async () => {
    await expect(scopeLifecycle(db.url)).resolves.toEqual({
      answer: 42,
      borrowedInside: 1,
      borrowedAfter: 0,
      acquired: 3,
    });
    await expectNoConnectionsLeft();
  });

  it('cleanup-on-error: every scope cleans up after a throw', async () => {
    await expect(cleanupOnError(db.url)).resolves.toEqual({
      sameError: true,
      borrowed: 0,
      idle: 1,
      rowsKept: 0,
      nextStatus: 'I',
      scopeClosed: true,
    });
    await expectNoConnectionsLeft();
  });

  it('opentelemetry: transaction spans under the active span, and the pool metrics', async () => {
    const observed = await openTelemetry(db.url);
    const tx = observed.spans.filter((s) => s.name === 'pg-scope transaction');
    expect(tx.map((s) => [s.parent, s.outcome, s.attempts])).toEqual([
      ['checkout', 'committed', 1],
      ['checkout', 'rolledBack', 1],
      ['checkout', 'committed', 2],
    ]);
    expect(Object.keys(observed.metrics).sort()).toEqual([
      'db.client.connection.count',
      'db.client.connection.create_time',
      'db.client.connection.idle.max',
      'db.client.connection.idle.min',
      'db.client.connection.max',
      'db.client.connection.pending_requests',
      'db.client.connection.use_time',
      'db.client.connection.wait_time',
    ]);
    expect(observed.metrics['db.client.connection.max']).toEqual({
      unit: '{connection}',
      values: ['shop: 2'],
    });
    expect(observed.metrics['db.client.connection.count']?.values).toContain('shop used: 0');
    await expectNoConnectionsLeft();
  });

  it('bounded-pool: no-wait, queue-full and timeout', async () => {
    await expect(boundedPool(db.url)).resolves.toEqual({
      reasons: ['no-wait', 'queue-full', 'timeout', 'timeout'],
      exhausted: 3,
    });
    await expectNoConnectionsLeft();
  });

  it('timing: the logged wait and commit duration match what happened', async () => {
    const result = await timing(db.url);
    expect(result.longestWaitMillis).toBeGreaterThanOrEqual(100);
    expect(result.commitDurationMillis).toHaveLength(1);
    expect(result.commitDurationMillis[0]).toBeGreaterThanOrEqual(75);
    expect(result.callerMeasuredMillis).toBeGreaterThanOrEqual(result.commitDurationMillis[0] ?? 0);
    await expectNoConnectionsLeft();
  });

  it('bank-transfer: commits, a rollback, a savepoint and a retried serialization conflict', async () => {
    const result = await bankTransfer(db.url);
    expect(result.balances).toEqual({ alice: 48, bob: 102 });
    expect(result.refused).toBe('insufficient funds: bob has 70.00, needs 1000.00');
    expect(result.feePaid).toBe(false);
    expect([...result.attempts].sort()).toEqual([1, 2]);
    expect(result.commits).toBe(5);
    expect(result.rollbacks).toBe(2);
    await expectNoConnectionsLeft();
  });
});
