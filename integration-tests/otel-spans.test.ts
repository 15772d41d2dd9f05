import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentPool, TRANSACTION_SPAN_NAME } from '../src/adapters/otel.js';
import { createPool, type Pool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { traceKit } from './support/otel-kit.js';
import { captureLog } from './support/pool-test-kit.js';

const txSpans = (spans: ReadableSpan[]) => spans.filter((s) => s.name === TRANSACTION_SPAN_NAME);

describe('pg-scope/otel: one span per transaction scope', () => {
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

  it('a committed transaction: a CLIENT span under the active span, with semconv attributes, outcome, attempts', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'spans' });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider });
    const tracer = kit.tracerProvider.getTracer('test');
    await tracer.startActiveSpan('request', async (request) => {
      await pool.transaction((tx) => tx.query('select 1'), { isolation: 'serializable' });
      request.end();
    });
    const [span] = txSpans(kit.spans());
    const request = kit.spans().find((s) => s.name === 'request');
    expect(span?.kind).toBe(SpanKind.CLIENT);
    expect(span?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
    expect(span?.spanContext().traceId).toBe(request?.spanContext().traceId);
    expect(span?.attributes).toEqual({
      'db.system.name': 'postgresql',
      'db.client.connection.pool.name': 'spans',
      'db.namespace': db.name,
      'server.address': db.config.host,
      'server.port': db.config.port,
      'pg_scope.transaction.form': 'callback',
      'pg_scope.transaction.isolation': 'serializable',
      'pg_scope.transaction.read_only': false,
      'pg_scope.transaction.attempts': 1,
      'pg_scope.transaction.outcome': 'committed',
    });
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(span?.events).toEqual([]); // one attempt, and it is the span's outcome
    // Query spans are off by default (instrumentation-pg users would see each query twice).
    expect(
      kit
        .spans()
        .map((s) => s.name)
        .sort(),
    ).toEqual([TRANSACTION_SPAN_NAME, 'request']);
    undo();
    await kit.shutdown();
  });

  it('a rolled-back transaction: status ERROR and error.type, never the message', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'rollback' });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider });
    await pool.transaction((tx) => tx.query('select * from no_such_table')).catch(() => undefined);
    await pool
      .transaction(async () => {
        throw new TypeError('a message with details');
      })
      .catch(() => undefined);
    const [missing, thrown] = txSpans(kit.spans());
    expect(missing?.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(missing?.attributes).toMatchObject({
      'pg_scope.transaction.outcome': 'rolledBack',
      'error.type': '42P01',
      'db.response.status_code': '42P01',
    });
    expect(thrown?.attributes['error.type']).toBe('TypeError');
    expect(JSON.stringify(thrown?.attributes)).not.toContain('details');
    undo();
    await kit.shutdown();
  });

  it('a retried transaction is one span with the attempt count and an event per failed attempt', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'retry' });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider });
    let calls = 0;
    await pool.transaction(
      async (tx) => {
        calls++;
        if (calls < 3) await tx.query(`do $$ begin raise exception 'x' using errcode = '40P01'; end $$`);
      },
      { retry: { maxAttempts: 5, baseDelayMillis: 1 } },
    );
    const spans = txSpans(kit.spans());
    expect(spans).toHaveLength(1);
    expect(spans[0]?.attributes).toMatchObject({
      'pg_scope.transaction.attempts': 3,
      'pg_scope.transaction.outcome': 'committed',
    });
    expect(spans[0]?.status.code).toBe(SpanStatusCode.UNSET);
    expect(spans[0]?.events.map((e) => e.attributes)).toEqual([
      {
        'pg_scope.transaction.attempt': 1,
        'pg_scope.transaction.outcome': 'rolledBack',
        'pg_scope.transaction.retrying': true,
        'error.type': '40P01',
      },
      {
        'pg_scope.transaction.attempt': 2,
        'pg_scope.transaction.outcome': 'rolledBack',
        'pg_scope.transaction.retrying': true,
        'error.type': '40P01',
      },
    ]);
    undo();
    await kit.shutdown();
  });

  it('the await using form is a span too, ended by commit', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'using' });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider });
    const tracer = kit.tracerProvider.getTracer('test');
    await tracer.startActiveSpan('request', async (request) => {
      await using tx = await pool.transaction();
      await tx.query('select 1');
      await tx.commit();
      request.end();
    });
    const [span] = txSpans(kit.spans());
    expect(span?.attributes).toMatchObject({
      'pg_scope.transaction.form': 'using',
      'pg_scope.transaction.outcome': 'committed',
    });
    expect(span?.parentSpanContext?.spanId).toBe(
      kit
        .spans()
        .find((s) => s.name === 'request')
        ?.spanContext().spanId,
    );
    undo();
    await kit.shutdown();
  });

  it('querySpans: a span per statement, child of its transaction span; text only when parameterized', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'queries' });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider, querySpans: true });
    await pool.transaction(async (tx) => {
      await tx.query('select $1::int as n', [7]);
      await tx.query('select 2');
    });
    await pool.query('select 3');
    const spans = kit.spans();
    const [txSpan] = txSpans(spans);
    const inTx = spans.filter((s) => s.parentSpanContext?.spanId === txSpan?.spanContext().spanId);
    expect(inTx.map((s) => s.name)).toEqual(['BEGIN', 'SELECT', 'SELECT', 'COMMIT']);
    const parameterized = inTx.find((s) => s.attributes['db.query.text'] !== undefined);
    expect(parameterized?.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.operation.name': 'SELECT',
      'db.query.text': 'select $1::int as n',
      'db.namespace': db.name,
      'db.response.returned_rows': 1,
    });
    expect(inTx.filter((s) => s.attributes['db.query.text'] !== undefined)).toHaveLength(1);
    const outside = spans.filter((s) => s.name === 'SELECT' && s.parentSpanContext === undefined);
    expect(outside).toHaveLength(1);
    undo();
    await kit.shutdown();
  });

  it('uninstrumenting stops the spans; another pool is never traced by this one’s instrumentation', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'stop' });
    const other = makePool({ name: 'other' });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider });
    await pool.transaction((tx) => tx.query('select 1'));
    await other.transaction((tx) => tx.query('select 1'));
    expect(txSpans(kit.spans()).map((s) => s.attributes['db.client.connection.pool.name'])).toEqual(['stop']);
    undo();
    await pool.transaction((tx) => tx.query('select 1'));
    expect(txSpans(kit.spans())).toHaveLength(1);
    expect(trace.getActiveSpan()).toBeUndefined();
    await kit.shutdown();
  });
});
