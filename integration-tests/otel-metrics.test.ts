import { DataPointType, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentPool } from '../src/adapters/otel.js';
import { type Connection, createPool, type Pool, type PoolConfig, PoolExhaustedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { metricKit, pointValue } from './support/otel-kit.js';
import { captureLog, pollUntil } from './support/pool-test-kit.js';

const POOL = 'db.client.connection.pool.name';
const STATE = 'db.client.connection.state';

function histogram(metrics: MetricData[], name: string, pool: string): Histogram | undefined {
  return pointValue(metrics, name, { [POOL]: pool }) as Histogram | undefined;
}

describe('pg-scope/otel: the database-client connection-pool metrics', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await db?.drop();
  });

  function makePool(config: PoolConfig = {}): Pool {
    const pool = createPool({ ...db.config, logger: captureLog('error').logger, ...config });
    pools.push(pool);
    return pool;
  }

  async function holdConnections(pool: Pool, n: number): Promise<Connection[]> {
    const held: Connection[] = [];
    for (let i = 0; i < n; i++) held.push(await pool.acquire());
    return held;
  }

  it('records every metric under its semconv name, unit, instrument type and attributes', async () => {
    const kit = metricKit();
    const pool = makePool({ name: 'names', max: 4, min: 1 });
    const undo = instrumentPool(pool, { meterProvider: kit.meterProvider });
    await pool.transaction((tx) => tx.query('select 1'));
    await pool.acquire({ timeoutMillis: 1 }).then((c) => c[Symbol.asyncDispose]());
    const metrics = await kit.collect();
    const described = Object.fromEntries(
      // The SDK keeps the instrument type on the descriptor (not in its typings).
      metrics.map((m) => [m.descriptor.name, [m.descriptor.unit, (m.descriptor as { type?: string }).type]]),
    );
    expect(described).toEqual({
      'db.client.connection.count': ['{connection}', 'OBSERVABLE_UP_DOWN_COUNTER'],
      'db.client.connection.idle.max': ['{connection}', 'OBSERVABLE_UP_DOWN_COUNTER'],
      'db.client.connection.idle.min': ['{connection}', 'OBSERVABLE_UP_DOWN_COUNTER'],
      'db.client.connection.max': ['{connection}', 'OBSERVABLE_UP_DOWN_COUNTER'],
      'db.client.connection.pending_requests': ['{request}', 'OBSERVABLE_UP_DOWN_COUNTER'],
      'db.client.connection.create_time': ['s', 'HISTOGRAM'],
      'db.client.connection.wait_time': ['s', 'HISTOGRAM'],
      'db.client.connection.use_time': ['s', 'HISTOGRAM'],
    });
    for (const metric of metrics) {
      for (const point of metric.dataPoints) expect(point.attributes[POOL]).toBe('names');
    }
    const states = metrics
      .find((m) => m.descriptor.name === 'db.client.connection.count')
      ?.dataPoints.map((p) => p.attributes[STATE]);
    expect(states?.sort()).toEqual(['idle', 'used']);
    expect(pointValue(metrics, 'db.client.connection.max')).toBe(4);
    expect(pointValue(metrics, 'db.client.connection.idle.max')).toBe(4);
    expect(pointValue(metrics, 'db.client.connection.idle.min')).toBe(1);
    // Histograms count what the pool counts: connections opened, acquires, returns.
    const stats = pool.stats();
    expect(histogram(metrics, 'db.client.connection.create_time', 'names')?.count).toBe(stats.created);
    expect(histogram(metrics, 'db.client.connection.wait_time', 'names')?.count).toBe(stats.acquired);
    expect(histogram(metrics, 'db.client.connection.use_time', 'names')?.count).toBe(stats.acquired);
    undo();
    await kit.shutdown();
  });

  it("with prepare: true, the statement cache's figures; none without it", async () => {
    const kit = metricKit();
    const pool = makePool({ name: 'cached', max: 1, prepare: true });
    const plain = makePool({ name: 'plain', max: 1 });
    const undo = instrumentPool(pool, { meterProvider: kit.meterProvider });
    const undoPlain = instrumentPool(plain, { meterProvider: kit.meterProvider });
    for (let i = 0; i < 3; i++) await pool.query('select $1::int as n', [i]);
    await plain.query('select $1::int as n', [1]);
    const metrics = await kit.collect();
    const cached = { [POOL]: 'cached' };
    expect(pointValue(metrics, 'pg_scope.statement_cache.prepared', cached)).toBe(1);
    expect(pointValue(metrics, 'pg_scope.statement_cache.misses', cached)).toBe(1);
    expect(pointValue(metrics, 'pg_scope.statement_cache.hits', cached)).toBe(2);
    expect(pointValue(metrics, 'pg_scope.statement_cache.evictions', cached)).toBe(0);
    expect(pointValue(metrics, 'pg_scope.statement_cache.recoveries', cached)).toBe(0);
    const plainPoints = metrics
      .filter((m) => m.descriptor.name.startsWith('pg_scope.statement_cache.'))
      .flatMap((m) => m.dataPoints.filter((p) => p.attributes[POOL] === 'plain'));
    expect(plainPoints).toEqual([]);
    undo();
    undoPlain();
    await kit.shutdown();
  });

  it('count{state=used} equals the borrowed connections while scopes hold them; idle after', async () => {
    const kit = metricKit();
    const pool = makePool({ name: 'used', max: 5 });
    const undo = instrumentPool(pool, { meterProvider: kit.meterProvider });
    const held = await holdConnections(pool, 3);
    let metrics = await kit.collect();
    expect(pointValue(metrics, 'db.client.connection.count', { [STATE]: 'used' })).toBe(3);
    expect(pointValue(metrics, 'db.client.connection.count', { [STATE]: 'idle' })).toBe(0);
    expect(pool.stats().borrowed).toBe(3);
    await Promise.all(held.map((c) => c[Symbol.asyncDispose]()));
    metrics = await kit.collect();
    expect(pointValue(metrics, 'db.client.connection.count', { [STATE]: 'used' })).toBe(0);
    expect(pointValue(metrics, 'db.client.connection.count', { [STATE]: 'idle' })).toBe(3);
    undo();
    await kit.shutdown();
  });

  it('pending_requests counts the queued waiters', async () => {
    const kit = metricKit();
    const pool = makePool({ name: 'pending', max: 2, acquireTimeoutMillis: 20_000 });
    const undo = instrumentPool(pool, { meterProvider: kit.meterProvider });
    const held = await holdConnections(pool, 2);
    const waiters = [1, 2, 3].map(() => pool.acquire((c) => c.query('select 1')));
    expect(
      await pollUntil(
        () => pool.stats().waiting,
        (n) => n === 3,
        10_000,
      ),
    ).toBe(3);
    expect(pointValue(await kit.collect(), 'db.client.connection.pending_requests')).toBe(3);
    await Promise.all(held.map((c) => c[Symbol.asyncDispose]()));
    await Promise.all(waiters);
    expect(pointValue(await kit.collect(), 'db.client.connection.pending_requests')).toBe(0);
    undo();
    await kit.shutdown();
  });

  it("timeouts goes up on a PoolExhaustedError with reason 'timeout' (not on 'no-wait')", async () => {
    const kit = metricKit();
    const pool = makePool({ name: 'timeouts', max: 1, acquireTimeoutMillis: 0 });
    const undo = instrumentPool(pool, { meterProvider: kit.meterProvider });
    await using held = await pool.acquire();
    const noWait = await pool.acquire().catch((e: unknown) => e);
    expect((noWait as PoolExhaustedError).reason).toBe('no-wait');
    expect(pointValue(await kit.collect(), 'db.client.connection.timeouts')).toBeUndefined();
    for (let i = 0; i < 2; i++) {
      const err = await pool.acquire({ timeoutMillis: 100 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PoolExhaustedError);
      expect((err as PoolExhaustedError).reason).toBe('timeout');
    }
    const metrics = await kit.collect();
    const timeouts = metrics.find((m) => m.descriptor.name === 'db.client.connection.timeouts');
    expect(timeouts?.descriptor).toMatchObject({ unit: '{timeout}', type: 'COUNTER' });
    expect(timeouts).toMatchObject({ dataPointType: DataPointType.SUM, isMonotonic: true });
    expect(pointValue(metrics, 'db.client.connection.timeouts')).toBe(2);
    expect(held.released).toBe(false);
    undo();
    await kit.shutdown();
  });

  it('wait_time reflects a measured wait', async () => {
    const kit = metricKit();
    const pool = makePool({ name: 'wait', max: 1 });
    await pool.query('select 1'); // the connection exists: the wait below is for a return, not a connect
    const undo = instrumentPool(pool, { meterProvider: kit.meterProvider });
    const held = await pool.acquire();
    const before = histogram(await kit.collect(), 'db.client.connection.wait_time', 'wait');
    const started = performance.now();
    const waiter = pool.acquire(async () => performance.now() - started);
    expect(
      await pollUntil(
        () => pool.stats().waiting,
        (n) => n === 1,
        10_000,
      ),
    ).toBe(1);
    setTimeout(() => void held[Symbol.asyncDispose](), 400);
    const measuredMillis = await waiter;
    const after = histogram(await kit.collect(), 'db.client.connection.wait_time', 'wait');
    expect(after?.count).toBe((before?.count ?? 0) + 1);
    const recorded = (after?.sum ?? 0) - (before?.sum ?? 0);
    // The pool's measure lies inside ours: at least the 400 ms hold (less timer slack), at most what we saw.
    expect(recorded).toBeGreaterThanOrEqual(0.35);
    expect(recorded).toBeLessThanOrEqual(measuredMillis / 1000 + 0.001);
    undo();
    await kit.shutdown();
  });

  it('uninstrumenting stops the recording', async () => {
    const kit = metricKit();
    const pool = makePool({ name: 'undo', max: 3 });
    const undo = instrumentPool(pool, { meterProvider: kit.meterProvider });
    await pool.query('select 1');
    const before = await kit.collect();
    const acquiredBefore = histogram(before, 'db.client.connection.wait_time', 'undo')?.count;
    expect(acquiredBefore).toBe(1);
    undo();
    undo(); // idempotent
    const held = await holdConnections(pool, 2);
    const after = await kit.collect();
    expect(histogram(after, 'db.client.connection.wait_time', 'undo')?.count ?? 0).toBe(acquiredBefore);
    expect(pointValue(after, 'db.client.connection.count', { [STATE]: 'used' })).not.toBe(2);
    await Promise.all(held.map((c) => c[Symbol.asyncDispose]()));
    await kit.shutdown();
  });

  it('two pools with different names are kept apart', async () => {
    const kit = metricKit();
    const alpha = makePool({ name: 'alpha', max: 3 });
    const beta = makePool({ name: 'beta', max: 4 });
    const undoAlpha = instrumentPool(alpha, { meterProvider: kit.meterProvider });
    const undoBeta = instrumentPool(beta, { meterProvider: kit.meterProvider });
    const held = [...(await holdConnections(alpha, 1)), ...(await holdConnections(beta, 2))];
    const metrics = await kit.collect();
    const used = (name: string) =>
      pointValue(metrics, 'db.client.connection.count', { [POOL]: name, [STATE]: 'used' });
    expect([used('alpha'), used('beta')]).toEqual([1, 2]);
    expect(pointValue(metrics, 'db.client.connection.max', { [POOL]: 'alpha' })).toBe(3);
    expect(pointValue(metrics, 'db.client.connection.max', { [POOL]: 'beta' })).toBe(4);
    expect(histogram(metrics, 'db.client.connection.wait_time', 'alpha')?.count).toBe(1);
    expect(histogram(metrics, 'db.client.connection.wait_time', 'beta')?.count).toBe(2);
    await Promise.all(held.map((c) => c[Symbol.asyncDispose]()));
    undoAlpha();
    undoBeta();
    await kit.shutdown();
  });
});
