import diagnostics_channel from 'node:diagnostics_channel';
import { context, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentPool, TRANSACTION_SPAN_NAME } from '../src/adapters/otel.js';
import {
  ChannelName,
  createPool,
  type Pool,
  type PoolConfig,
  type QueryMessage,
  type TransactionMessage,
} from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { traceKit } from './support/otel-kit.js';
import { captureLog } from './support/pool-test-kit.js';

const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const parentOf = (span: ReadableSpan | undefined) => span?.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan | undefined) => span?.spanContext().spanId;

describe('pg-scope/otel: the transaction span is the parent of what runs in the scope', () => {
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

  it('a span started in the callback is a child of the transaction span, itself a child of the caller’s', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'parents' });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider });
    const tracer = kit.tracerProvider.getTracer('test');
    await tracer.startActiveSpan('request', async (request) => {
      await pool.transaction(async (tx) => {
        await tx.query('select 1');
        // Both ways users start spans: as the active span, and with the active context as parent.
        await tracer.startActiveSpan('work', async (work) => {
          await tx.query('select 2');
          tracer.startSpan('inner').end();
          work.end();
        });
        tracer.startSpan('plain').end();
        // A savepoint and a joined scope are part of the transaction: the same parent, no span of their own.
        await tx.transaction(async () => tracer.startSpan('in savepoint').end());
        await pool.transaction(async () => tracer.startSpan('in joined scope').end());
      });
      // Back in the caller: its own span is active again.
      expect(trace.getActiveSpan()).toBe(request);
      request.end();
    });
    const spans = kit.spans();
    const [txSpan] = named(spans, TRANSACTION_SPAN_NAME);
    expect(named(spans, TRANSACTION_SPAN_NAME)).toHaveLength(1);
    expect(parentOf(txSpan)).toBe(idOf(named(spans, 'request')[0]));
    for (const name of ['work', 'plain', 'in savepoint', 'in joined scope']) {
      expect(parentOf(named(spans, name)[0]), name).toBe(idOf(txSpan));
      expect(named(spans, name)[0]?.spanContext().traceId).toBe(txSpan?.spanContext().traceId);
    }
    expect(parentOf(named(spans, 'inner')[0])).toBe(idOf(named(spans, 'work')[0]));
    undo();
    await kit.shutdown();
  });

  it('every attempt of a retried transaction runs under its one span; requiresNew is a child span', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'parents-retry', max: 3 });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider });
    const tracer = kit.tracerProvider.getTracer('test');
    let calls = 0;
    await pool.transaction(
      async (tx) => {
        calls++;
        tracer.startSpan(`attempt ${calls}`).end();
        if (calls < 2) await tx.query(`do $$ begin raise exception 'x' using errcode = '40001'; end $$`);
        await pool.transaction(async () => tracer.startSpan('in new').end(), { propagation: 'requiresNew' });
      },
      { retry: { maxAttempts: 3, baseDelayMillis: 1 } },
    );
    const spans = kit.spans();
    const txs = named(spans, TRANSACTION_SPAN_NAME);
    expect(txs).toHaveLength(2);
    const outer = txs.find((s) => s.parentSpanContext === undefined);
    const inner = txs.find((s) => s !== outer);
    expect(outer?.attributes['pg_scope.transaction.attempts']).toBe(2);
    expect(parentOf(named(spans, 'attempt 1')[0])).toBe(idOf(outer));
    expect(parentOf(named(spans, 'attempt 2')[0])).toBe(idOf(outer));
    expect(parentOf(inner)).toBe(idOf(outer));
    expect(parentOf(named(spans, 'in new')[0])).toBe(idOf(inner));
    undo();
    await kit.shutdown();
  });

  it('the await using form: its statements’ spans are children of its span, in the caller’s context', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'parents-using' });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider, querySpans: true });
    const tracer = kit.tracerProvider.getTracer('test');
    await tracer.startActiveSpan('request', async (request) => {
      {
        await using tx = await pool.transaction();
        await tx.query('select 1');
        await tx.transaction(async (sp) => sp.query('select 2'));
        await tx.commit();
      }
      await pool.query('select 3');
      request.end();
    });
    const spans = kit.spans();
    const [txSpan] = named(spans, TRANSACTION_SPAN_NAME);
    const request = named(spans, 'request')[0];
    expect(parentOf(txSpan)).toBe(idOf(request));
    const inTx = spans.filter((s) => parentOf(s) === idOf(txSpan)).map((s) => s.name);
    expect(inTx).toEqual(['BEGIN', 'SELECT', 'SAVEPOINT', 'SELECT', 'RELEASE', 'COMMIT']);
    // After the transaction, a statement of the pool is the caller's again.
    const after = spans.filter((s) => s.name === 'SELECT' && parentOf(s) === idOf(request));
    expect(after).toHaveLength(1);
    undo();
    await kit.shutdown();
  });

  it('not instrumented: the callback runs in the caller’s own context, and no hook is set', async () => {
    const kit = traceKit();
    const pool = makePool({ name: 'parents-off' });
    const undo = instrumentPool(pool, { tracerProvider: kit.tracerProvider });
    undo();
    const outside = context.active();
    let inside: unknown;
    await pool.transaction(async () => {
      inside = context.active();
    });
    expect(inside).toBe(outside);
    // A subscriber that sets no hook: the message has none, and the callback's context is still the caller's.
    const seen: TransactionMessage[] = [];
    const onStart = (m: unknown) => seen.push(m as TransactionMessage);
    diagnostics_channel.subscribe(`tracing:${ChannelName.transaction}:start`, onStart);
    try {
      await pool.transaction(async () => {
        inside = context.active();
      });
    } finally {
      diagnostics_channel.unsubscribe(`tracing:${ChannelName.transaction}:start`, onStart);
    }
    expect(inside).toBe(outside);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.runInScope).toBeUndefined();
    expect(kit.spans()).toEqual([]);
    await kit.shutdown();
  });

  it('runInScope: a start subscriber’s hook runs the whole scope, once, and a second hook can wrap it', async () => {
    const pool = makePool({ name: 'parents-hook' });
    const order: string[] = [];
    const hook = (name: string) => (message: unknown) => {
      const m = message as TransactionMessage;
      if (m.pool !== pool) return;
      const previous = m.runInScope;
      m.runInScope = (msg, run) => {
        order.push(`enter ${name}`);
        const result = previous ? previous(msg, run) : run();
        order.push(`left ${name}`);
        return result;
      };
    };
    const first = hook('first');
    const second = hook('second');
    const queries: QueryMessage[] = [];
    const onQuery = (m: unknown) => {
      if ((m as QueryMessage).pool === pool) queries.push(m as QueryMessage);
    };
    diagnostics_channel.subscribe(`tracing:${ChannelName.transaction}:start`, first);
    diagnostics_channel.subscribe(`tracing:${ChannelName.transaction}:start`, second);
    diagnostics_channel.subscribe(`tracing:${ChannelName.query}:start`, onQuery);
    let transaction: TransactionMessage | undefined;
    const onTx = (m: unknown) => {
      if ((m as TransactionMessage).pool === pool) transaction = m as TransactionMessage;
    };
    diagnostics_channel.subscribe(`tracing:${ChannelName.transaction}:asyncEnd`, onTx);
    try {
      const value = await pool.transaction(async (tx) => {
        order.push('callback');
        await tx.query('select 1');
        return 42;
      });
      expect(value).toBe(42);
      await pool.query('select 2');
    } finally {
      diagnostics_channel.unsubscribe(`tracing:${ChannelName.transaction}:start`, first);
      diagnostics_channel.unsubscribe(`tracing:${ChannelName.transaction}:start`, second);
      diagnostics_channel.unsubscribe(`tracing:${ChannelName.query}:start`, onQuery);
      diagnostics_channel.unsubscribe(`tracing:${ChannelName.transaction}:asyncEnd`, onTx);
    }
    // The later subscriber's hook wraps the earlier one; the scope runs once, inside both (its callback
    // after its first await, the acquire).
    expect(order).toEqual(['enter second', 'enter first', 'left first', 'left second', 'callback']);
    // The statements of the transaction name its message; the one after it, none.
    expect(queries.map((q) => [q.text, q.transaction === transaction])).toEqual([
      ['BEGIN', true],
      ['select 1', true],
      ['COMMIT', true],
      ['select 2', false],
    ]);
    expect(queries[3]?.transaction).toBeUndefined();
  });
});
