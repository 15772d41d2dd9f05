import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerPoolMetrics } from '../examples/prometheus.js';
import { createPool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs } from './setup/log-capture.js';

/** The value of one sample line `name{pool="…"} value` in Prometheus' text format. */
function sample(text: string, name: string, pool: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{pool="${pool}"} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('the Prometheus example', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('serves stats() as gauges and counters, read when scraped, one label per pool', async () => {
    const main = createPool({ connectionString: db.url, max: 2, logger: captureLogs('silent').logger });
    const replica = createPool({ connectionString: db.url, max: 3, logger: captureLogs('silent').logger });
    const registry = new Registry();
    const unregisterMain = registerPoolMetrics(main, registry, 'main');
    registerPoolMetrics(replica, registry, 'replica');
    expect(() => registerPoolMetrics(replica, registry, 'replica')).toThrow(/already registered/);

    await main.transaction((tx) => tx.query('select 1'));
    await expect(
      main.transaction(async (tx) => {
        await tx.query('select 1');
        throw new Error('roll back');
      }),
    ).rejects.toThrow();
    const a = await main.acquire();
    const b = await main.acquire();
    await Promise.all([a.query('select 1'), b.query('select 1')]);
    await expect(main.acquire({ timeoutMillis: 0 })).rejects.toMatchObject({ code: 'POOL_EXHAUSTED' });
    await replica.query('select 1');

    const text = await registry.metrics();
    const stats = main.stats();
    expect(stats).toMatchObject({ borrowed: 2, acquired: 4, commits: 1, rollbacks: 1, exhausted: 1 });
    expect(text).toContain('# TYPE pg_scope_pool_borrowed gauge');
    expect(text).toContain('# TYPE pg_scope_pool_acquired_total counter');
    const expected: Record<string, number> = {
      pg_scope_pool_max: 2,
      pg_scope_pool_min: 0,
      pg_scope_pool_size: stats.size,
      pg_scope_pool_idle: stats.idle,
      pg_scope_pool_borrowed: 2,
      pg_scope_pool_waiting: 0,
      pg_scope_pool_acquired_total: 4,
      pg_scope_pool_created_total: stats.created,
      pg_scope_pool_destroyed_total: 0,
      pg_scope_pool_exhausted_total: 1,
      pg_scope_pool_commits_total: 1,
      pg_scope_pool_rollbacks_total: 1,
    };
    for (const [name, value] of Object.entries(expected))
      expect([name, sample(text, name, 'main')]).toEqual([name, value]);
    expect(stats.created).toBe(2);
    expect(sample(text, 'pg_scope_pool_max', 'replica')).toBe(3);
    expect(sample(text, 'pg_scope_pool_acquired_total', 'replica')).toBe(1);

    // Read again at the next scrape.
    await Promise.all([a.release(), b.release()]);
    const later = await registry.metrics();
    expect(sample(later, 'pg_scope_pool_borrowed', 'main')).toBe(0);
    expect(sample(later, 'pg_scope_pool_idle', 'main')).toBe(2);
    expect(sample(later, 'pg_scope_pool_acquired_total', 'main')).toBe(4);

    unregisterMain();
    await main.close();
    const afterUnregister = await registry.metrics();
    expect(sample(afterUnregister, 'pg_scope_pool_max', 'main')).toBeUndefined();
    expect(sample(afterUnregister, 'pg_scope_pool_max', 'replica')).toBe(3);
    await replica.close();
  });
});
