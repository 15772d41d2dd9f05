import diagnostics_channel from 'node:diagnostics_channel';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type AcquireMessage,
  ChannelName,
  createPool,
  type Pool,
  type PoolConfig,
  PoolExhaustedError,
  type QueryMessage,
  type ReleaseMessage,
  type TransactionAttemptMessage,
  type TransactionMessage,
  TransactionTimeoutError,
} from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { recordChannel, recordTracing } from './support/channel-recorder.js';
import { captureLog } from './support/pool-test-kit.js';

/** The events of one successful traced call, and of one that rejected. */
const RESOLVED = ['start', 'end', 'asyncStart', 'asyncEnd'];
const REJECTED = ['start', 'end', 'error', 'asyncStart', 'asyncEnd'];

describe('diagnostics_channel: pg-scope:acquire, pg-scope:transaction, pg-scope:query', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key, label text)');
  });
  afterEach(() => {
    for (const stop of stops.splice(0)) stop();
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
  function tracing<M extends object>(name: string) {
    const recorder = recordTracing<M>(name);
    stops.push(recorder.stop);
    return recorder;
  }
  function plain<M>(name: string) {
    const recorder = recordChannel<M>(name);
    stops.push(recorder.stop);
    return recorder;
  }

  it('publishes nothing and builds nothing while no one subscribes', () => {
    for (const name of [ChannelName.acquire, ChannelName.transaction, ChannelName.query]) {
      expect(diagnostics_channel.tracingChannel(name).hasSubscribers).toBe(false);
    }
    expect(diagnostics_channel.hasSubscribers(ChannelName.release)).toBe(false);
  });

  it('acquire: start/end/asyncStart/asyncEnd with the pool, scope id, server and wait; release with the hold', async () => {
    const pool = makePool({ name: 'orders', max: 2 });
    const acquire = tracing<AcquireMessage>(ChannelName.acquire);
    const release = plain<ReleaseMessage>(ChannelName.release);
    let scopeId = '';
    await pool.acquire(async (conn) => {
      scopeId = conn.scopeId;
      await conn.query('select 1');
    });
    const [events] = acquire.traces((m) => m.pool === pool);
    expect(events?.map((e) => e.event)).toEqual(RESOLVED);
    const start = events?.[0]?.snapshot;
    expect(start).toMatchObject({ pool, poolName: 'orders', timeoutMillis: 10_000 });
    expect(start?.scopeId).toBeUndefined();
    const end = events?.[3]?.snapshot;
    expect(end?.scopeId).toMatch(/^c/);
    expect(end?.scopeId).toBe(scopeId);
    expect(end?.waitMillis).toBeGreaterThanOrEqual(0);
    expect(end?.server).toEqual({ address: db.config.host, port: db.config.port, database: db.name });
    expect(end?.error).toBeUndefined();
    const released = release.seen.filter((m) => m.pool === pool);
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ poolName: 'orders', scopeId: end?.scopeId });
    expect(released[0]?.heldMillis).toBeGreaterThanOrEqual(0);
  });

  it('acquire: exhaustion and timeout publish error with the PoolExhaustedError and the wait', async () => {
    const pool = makePool({ max: 1, acquireTimeoutMillis: 0 });
    const acquire = tracing<AcquireMessage>(ChannelName.acquire);
    await using held = await pool.acquire();
    await held.query('select 1');
    const noWait = await pool.acquire().catch((err: unknown) => err);
    const timedOut = await pool.acquire({ timeoutMillis: 300 }).catch((err: unknown) => err);
    expect(noWait).toBeInstanceOf(PoolExhaustedError);
    expect(timedOut).toBeInstanceOf(PoolExhaustedError);
    const failed = acquire.traces((m) => m.pool === pool).filter((t) => t.some((e) => e.event === 'error'));
    expect(failed.map((t) => t.map((e) => e.event))).toEqual([REJECTED, REJECTED]);
    const [first, second] = failed.map((t) => t[t.length - 1]?.snapshot);
    expect(first?.error).toBe(noWait);
    expect((noWait as PoolExhaustedError).reason).toBe('no-wait');
    expect(second?.error).toBe(timedOut);
    expect((timedOut as PoolExhaustedError).reason).toBe('timeout');
    expect(second?.timeoutMillis).toBe(300);
    // Measured by the pool: at least most of the timeout (timers may fire a little early on a loaded machine).
    expect(second?.waitMillis).toBeGreaterThanOrEqual(250);
  });

  it('transaction: a commit, with ids, isolation, attempts and outcome; one attempt message', async () => {
    const pool = makePool();
    const tx = tracing<TransactionMessage>(ChannelName.transaction);
    const attempts = plain<TransactionAttemptMessage>(ChannelName.transactionAttempt);
    const txId = await pool.transaction(
      async (t) => {
        await t.query('insert into items values (1, $1)', ['one']);
        return t.id;
      },
      { isolation: 'repeatable read' },
    );
    const [events] = tx.traces((m) => m.pool === pool);
    expect(events?.map((e) => e.event)).toEqual(RESOLVED);
    expect(events?.[0]?.snapshot).toMatchObject({
      form: 'callback',
      isolation: 'repeatable read',
      attempts: 0,
    });
    expect(events?.[0]?.snapshot.outcome).toBeUndefined();
    const end = events?.[3]?.snapshot;
    expect(end).toMatchObject({ form: 'callback', attempts: 1, txId, outcome: 'committed' });
    expect(end?.scopeId).toMatch(/^c/);
    expect(end?.server?.database).toBe(db.name);
    expect(end?.durationMillis).toBeGreaterThanOrEqual(0);
    const mine = attempts.seen.filter((m) => m.pool === pool);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ attempt: 1, txId, outcome: 'committed', retrying: false });
    expect(mine[0]?.transaction).toBe(events?.[0]?.message);
  });

  it('transaction: a rollback publishes error with the callback’s own error object', async () => {
    const pool = makePool();
    const tx = tracing<TransactionMessage>(ChannelName.transaction);
    const boom = new Error('boom');
    const err = await pool
      .transaction(async (t) => {
        await t.query('select 1');
        throw boom;
      })
      .catch((e: unknown) => e);
    expect(err).toBe(boom);
    const [events] = tx.traces((m) => m.pool === pool);
    expect(events?.map((e) => e.event)).toEqual(REJECTED);
    expect(events?.[4]?.snapshot).toMatchObject({ outcome: 'rolledBack', attempts: 1, error: boom });
  });

  it('transaction: a deadline publishes error with TransactionTimeoutError, outcome rolledBack', async () => {
    const pool = makePool();
    const tx = tracing<TransactionMessage>(ChannelName.transaction);
    const err = await pool
      .transaction((t) => t.query('select pg_sleep(30)'), { timeoutMillis: 300 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionTimeoutError);
    const [events] = tx.traces((m) => m.pool === pool);
    expect(events?.map((e) => e.event)).toEqual(REJECTED);
    expect(events?.[4]?.snapshot).toMatchObject({ outcome: 'rolledBack', attempts: 1, error: err });
  });

  it('transaction: an exhausted pool rejects the scope before any attempt (error, attempts 0)', async () => {
    const pool = makePool({ max: 1, acquireTimeoutMillis: 0 });
    const tx = tracing<TransactionMessage>(ChannelName.transaction);
    await using held = await pool.acquire();
    await held.query('select 1');
    const err = await pool.transaction((t) => t.query('select 1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PoolExhaustedError);
    const [events] = tx.traces((m) => m.pool === pool);
    expect(events?.map((e) => e.event)).toEqual(REJECTED);
    expect(events?.[4]?.snapshot).toMatchObject({ outcome: 'rolledBack', attempts: 0, error: err });
  });

  it('transaction: a retried scope is one trace with an attempt message per attempt', async () => {
    const pool = makePool();
    const tx = tracing<TransactionMessage>(ChannelName.transaction);
    const attempts = plain<TransactionAttemptMessage>(ChannelName.transactionAttempt);
    let calls = 0;
    await pool.transaction(
      async (t) => {
        calls++;
        // A real serialization failure from the server on the first attempt.
        if (calls === 1)
          await t.query(`do $$ begin raise exception 'conflict' using errcode = '40001'; end $$`);
        await t.query('select 1');
      },
      { retry: { maxAttempts: 3, baseDelayMillis: 1 } },
    );
    const traces = tx.traces((m) => m.pool === pool);
    expect(traces).toHaveLength(1);
    expect(traces[0]?.map((e) => e.event)).toEqual(RESOLVED);
    expect(traces[0]?.[3]?.snapshot).toMatchObject({ attempts: 2, outcome: 'committed' });
    const mine = attempts.seen.filter((m) => m.pool === pool);
    expect(mine.map((m) => [m.attempt, m.outcome, m.retrying])).toEqual([
      [1, 'rolledBack', true],
      [2, 'committed', false],
    ]);
    expect(mine[0]?.error).toMatchObject({ code: '40001' });
    expect(mine[0]?.txId).not.toBe(mine[1]?.txId);
  });

  it('transaction, await using form: opened, then ended by commit or by leaving the block', async () => {
    const pool = makePool();
    const tx = tracing<TransactionMessage>(ChannelName.transaction);
    {
      await using t = await pool.transaction();
      await t.query('select 1');
      expect(tx.traces((m) => m.pool === pool)[0]?.map((e) => e.event)).toEqual(['start', 'end']);
      await t.commit();
    }
    {
      await using t = await pool.transaction({ readOnly: true });
      await t.query('select 1');
    }
    const [committed, disposed] = tx.traces((m) => m.pool === pool);
    expect(committed?.map((e) => e.event)).toEqual(RESOLVED);
    expect(committed?.[3]?.snapshot).toMatchObject({ form: 'using', attempts: 1, outcome: 'committed' });
    expect(disposed?.map((e) => e.event)).toEqual(RESOLVED);
    expect(disposed?.[3]?.snapshot).toMatchObject({ form: 'using', readOnly: true, outcome: 'rolledBack' });
  });

  it('query: the text, the number of values (never the values), command and rowCount; errors', async () => {
    const pool = makePool();
    const query = tracing<QueryMessage>(ChannelName.query);
    await pool.query('select $1::text as v', ['hello']);
    const bad = await pool.query('select * from no_such_table').catch((e: unknown) => e);
    const traces = query.traces((m) => m.pool === pool);
    expect(traces.map((t) => t.map((e) => e.event))).toEqual([RESOLVED, REJECTED]);
    const ok = traces[0]?.[3]?.snapshot;
    expect(ok).toMatchObject({ text: 'select $1::text as v', valueCount: 1, command: 'SELECT', rowCount: 1 });
    expect(ok?.server.database).toBe(db.name);
    expect(Object.keys(ok ?? {})).not.toContain('values');
    expect(traces[1]?.[4]?.snapshot.error).toBe(bad);
    expect((bad as { code?: string }).code).toBe('42P01');
  });

  it('query: a transaction’s statements, BEGIN and COMMIT included, on its connection', async () => {
    const pool = makePool();
    const query = tracing<QueryMessage>(ChannelName.query);
    await pool.transaction(async (t) => {
      await t.query('select 1');
    });
    const texts = query.traces((m) => m.pool === pool).map((t) => t[0]?.snapshot.text);
    expect(texts[0]).toMatch(/^BEGIN/);
    expect(texts).toContain('select 1');
    expect(texts[texts.length - 1]).toBe('COMMIT');
  });

  it('query: with a subscriber, BEGIN and the transaction id still go ahead of a statement, each published', async () => {
    const pool = makePool();
    const query = tracing<QueryMessage>(ChannelName.query);
    await pool.transaction(async (t) => {
      await t.query('insert into items values (7, $1)', ['seven']);
      await t.query('update items set label = $1 where id = 7', ['sept']);
    });
    const traces = query.traces((m) => m.pool === pool);
    expect(traces.map((t) => t.map((e) => e.event))).toEqual(traces.map(() => RESOLVED));
    const ended = traces.map((t) => t[3]?.snapshot);
    expect(ended.map((m) => m?.text.split(' ')[0]?.toUpperCase())).toEqual([
      'BEGIN',
      'INSERT',
      'SELECT',
      'UPDATE',
      'COMMIT',
    ]);
    expect(ended[0]).toMatchObject({ command: 'BEGIN', rowCount: null, valueCount: 0 });
    expect(ended[2]).toMatchObject({ command: 'SELECT', rowCount: 1, valueCount: 0 });
    expect(ended[1]).toMatchObject({ command: 'INSERT', rowCount: 1, valueCount: 1 });
    const { rows } = await db.admin('select label from items where id = 7');
    expect(rows[0]?.label).toBe('sept');
  });

  it('query: with a subscriber, a null query rejects with pg’s error and the connection is kept', async () => {
    const pool = makePool({ max: 1 });
    tracing<QueryMessage>(ChannelName.query);
    const err = await pool.acquire((conn) => conn.query(null as unknown as string)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(String((err as Error).message)).toMatch(/null or undefined/);
    expect(pool.stats()).toMatchObject({ size: 1, idle: 1 });
  });

  it('name: the option, else application_name, else pg-scope — in messages and in log lines', async () => {
    const log = captureLog('debug');
    const named = makePool({ name: 'billing', application_name: 'app-x', logger: log.logger });
    const byApp = makePool({ application_name: 'app-y' });
    const plainPool = makePool();
    expect([named.name, byApp.name, plainPool.name]).toEqual(['billing', 'app-y', 'pg-scope']);
    const acquire = tracing<AcquireMessage>(ChannelName.acquire);
    await Promise.all([named, byApp, plainPool].map((p) => p.query('select 1')));
    const names = [named, byApp, plainPool].map(
      (p) => acquire.traces((m) => m.pool === p)[0]?.[0]?.snapshot.poolName,
    );
    expect(names).toEqual(['billing', 'app-y', 'pg-scope']);
    expect(log.withEvent('pool.acquire')[0]?.pool).toBe('billing');
    // application_name still reaches the server unchanged.
    const { rows } = await named.query<{ a: string }>('select current_setting($1) as a', [
      'application_name',
    ]);
    expect(rows[0]?.a).toBe('app-x');
  });
});
