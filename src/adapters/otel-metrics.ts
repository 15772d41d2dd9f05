import diagnostics_channel from 'node:diagnostics_channel';
import type { Attributes, Histogram, Meter, Observable } from '@opentelemetry/api';
import {
  type AcquireMessage,
  ChannelName,
  type ConnectMessage,
  type Pool,
  PoolExhaustedError,
  type ReleaseMessage,
} from '../index.js';

/** Seconds: the bucket boundaries OpenTelemetry advises for database client durations. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

/** The semantic-convention attribute naming the pool on every metric point. */
export const POOL_NAME = 'db.client.connection.pool.name';

/**
 * Records the OpenTelemetry database-client connection-pool metrics of `pool` on `meter`: the gauges are
 * observed from `pool.stats()` at each collection (one call for all of them); the timeouts counter and the
 * three duration histograms are fed from the pool's diagnostics channels. Returns what removes it all.
 */
export function recordPoolMetrics(pool: Pool, meter: Meter): () => void {
  const pooled: Attributes = { [POOL_NAME]: pool.name };
  const used: Attributes = { ...pooled, 'db.client.connection.state': 'used' };
  const idle: Attributes = { ...pooled, 'db.client.connection.state': 'idle' };

  const count = meter.createObservableUpDownCounter('db.client.connection.count', {
    unit: '{connection}',
    description: 'The number of connections that are currently in state described by the state attribute.',
  });
  const idleMax = meter.createObservableUpDownCounter('db.client.connection.idle.max', {
    unit: '{connection}',
    description: 'The maximum number of idle open connections allowed.',
  });
  const idleMin = meter.createObservableUpDownCounter('db.client.connection.idle.min', {
    unit: '{connection}',
    description: 'The minimum number of idle open connections allowed.',
  });
  const max = meter.createObservableUpDownCounter('db.client.connection.max', {
    unit: '{connection}',
    description: 'The maximum number of open connections allowed.',
  });
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
    unit: '{request}',
    description: 'The number of current pending requests for an open connection.',
  });
  // With `prepare: true`: the statement cache's figures (`stats().statements`), under pg-scope's own names
  // (the semantic conventions have none for a statement cache).
  const statement = (name: string, description: string) =>
    meter.createObservableCounter(`pg_scope.statement_cache.${name}`, { unit: '{statement}', description });
  const prepared = meter.createObservableUpDownCounter('pg_scope.statement_cache.prepared', {
    unit: '{statement}',
    description: 'Named statements prepared now on the open connections of the pool.',
  });
  const hits = statement('hits', 'Statements sent under a name their connection had already prepared.');
  const misses = statement('misses', 'Statements prepared on their connection first.');
  const evictions = statement(
    'evictions',
    'Statements closed on the server to keep a cache within its size.',
  );
  const recoveries = statement('recoveries', 'Statements whose cached name failed and were recovered.');
  const observables: Observable[] = [
    count,
    idleMax,
    idleMin,
    max,
    pending,
    prepared,
    hits,
    misses,
    evictions,
    recoveries,
  ];
  const observe = (result: import('@opentelemetry/api').BatchObservableResult): void => {
    const s = pool.stats();
    const cache = s.statements;
    if (cache !== undefined) {
      result.observe(prepared, cache.prepared, pooled);
      result.observe(hits, cache.hits, pooled);
      result.observe(misses, cache.misses, pooled);
      result.observe(evictions, cache.evictions, pooled);
      result.observe(recoveries, cache.recoveries, pooled);
    }
    result.observe(count, s.borrowed, used);
    result.observe(count, s.idle, idle);
    // pg-scope keeps every open connection idle up to `max`: no separate bound on idle ones.
    result.observe(idleMax, s.max, pooled);
    result.observe(idleMin, s.min, pooled);
    result.observe(max, s.max, pooled);
    result.observe(pending, s.waiting, pooled);
  };
  meter.addBatchObservableCallback(observe, observables);

  const timeouts = meter.createCounter('db.client.connection.timeouts', {
    unit: '{timeout}',
    description:
      'The number of connection timeouts that have occurred trying to obtain a connection from the pool.',
  });
  const histogram = (name: string, description: string): Histogram =>
    meter.createHistogram(name, {
      unit: 's',
      description,
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
  const createTime = histogram(
    'db.client.connection.create_time',
    'The time it took to create a new connection.',
  );
  const waitTime = histogram(
    'db.client.connection.wait_time',
    'The time it took to obtain an open connection from the pool.',
  );
  const useTime = histogram(
    'db.client.connection.use_time',
    'The time between borrowing a connection and returning it to the pool.',
  );

  const acquired = diagnostics_channel.tracingChannel<AcquireMessage>(ChannelName.acquire).asyncEnd;
  const onAcquired = (message: unknown): void => {
    const m = message as AcquireMessage;
    if (m.pool !== pool) return;
    if (m.error === undefined) waitTime.record((m.waitMillis ?? 0) / 1000, pooled);
    else if (m.error instanceof PoolExhaustedError && m.error.reason === 'timeout') timeouts.add(1, pooled);
  };
  const connected = diagnostics_channel.channel(ChannelName.connect);
  const onConnected = (message: unknown): void => {
    const m = message as ConnectMessage;
    if (m.pool === pool && m.ok) createTime.record(m.connectMillis / 1000, pooled);
  };
  const released = diagnostics_channel.channel(ChannelName.release);
  const onReleased = (message: unknown): void => {
    const m = message as ReleaseMessage;
    if (m.pool === pool) useTime.record(m.heldMillis / 1000, pooled);
  };
  acquired.subscribe(onAcquired);
  connected.subscribe(onConnected);
  released.subscribe(onReleased);

  return () => {
    meter.removeBatchObservableCallback(observe, observables);
    acquired.unsubscribe(onAcquired);
    connected.unsubscribe(onConnected);
    released.unsubscribe(onReleased);
  };
}
