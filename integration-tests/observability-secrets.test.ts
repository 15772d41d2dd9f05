import diagnostics_channel from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentPool } from '../src/adapters/otel.js';
import { ChannelName, createPool, type Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { metricKit, traceKit } from './support/otel-kit.js';
import { captureLog } from './support/pool-test-kit.js';

const VALUE = 'param-value-7f3c9e';
const PASSWORD_IF_TRUST = 'pw-never-shown-51ab';

/** Every message of every pg-scope channel, serialised as a subscriber could (inspect and JSON). */
function recordEverything() {
  const texts: { channel: string; text: string; withoutError: string }[] = [];
  const show = (channel: string, message: unknown) => {
    const m = message as Record<string, unknown>;
    const { error: _error, ...rest } = m;
    texts.push({
      channel,
      text: `${inspect(m, { depth: 8, showHidden: true })}\n${JSON.stringify(m)}`,
      withoutError: `${inspect(rest, { depth: 8, showHidden: true })}\n${JSON.stringify(rest)}`,
    });
  };
  const stops: (() => void)[] = [];
  for (const name of [ChannelName.acquire, ChannelName.transaction, ChannelName.query]) {
    const channel = diagnostics_channel.tracingChannel(name);
    const handlers = {
      start: (m: unknown) => show(name, m),
      end: (m: unknown) => show(name, m),
      asyncStart: (m: unknown) => show(name, m),
      asyncEnd: (m: unknown) => show(name, m),
      error: (m: unknown) => show(name, m),
    };
    channel.subscribe(handlers);
    stops.push(() => channel.unsubscribe(handlers));
  }
  for (const name of [ChannelName.transactionAttempt, ChannelName.connect, ChannelName.release]) {
    const listener = (m: unknown) => show(name, m);
    diagnostics_channel.subscribe(name, listener);
    stops.push(() => diagnostics_channel.unsubscribe(name, listener));
  }
  return {
    texts,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}

function spanText(spans: ReadableSpan[]): string {
  return JSON.stringify(
    spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })),
  );
}

describe('observability: no parameter value or password in a channel message, span or metric', () => {
  let db: TestDatabase;
  let pool: Pool;
  let password: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table secrets (id int primary key, v text)');
    // A trust-auth server ignores the password; one that checks it gets the real one. Either way it is in the config.
    password = db.config.password ?? PASSWORD_IF_TRUST;
    pool = createPool({
      ...db.config,
      password,
      name: 'secrets',
      max: 1,
      acquireTimeoutMillis: 200,
      logger: captureLog('error').logger,
    });
  });
  afterAll(async () => {
    await pool?.close({ timeoutMillis: 0 });
    await db?.drop();
  });

  it('through commits, rollbacks, retries, timeouts and exhaustion', async () => {
    const channels = recordEverything();
    const metrics = metricKit();
    const traces = traceKit();
    const undo = instrumentPool(pool, {
      meterProvider: metrics.meterProvider,
      tracerProvider: traces.tracerProvider,
      querySpans: true,
    });
    try {
      await pool.transaction((tx) => tx.query('insert into secrets values (1, $1)', [VALUE]));
      await pool.query({ text: 'select v from secrets where v = $1', values: [VALUE] });
      await pool.query('select $1::text, 1/0', [VALUE]).catch(() => undefined);
      let calls = 0;
      await pool.transaction(
        async (tx) => {
          await tx.query('select $1::text', [VALUE]);
          if (++calls === 1)
            await tx.query(`do $$ begin raise exception 'c' using errcode = '40001'; end $$`);
        },
        { retry: { maxAttempts: 2, baseDelayMillis: 1 } },
      );
      await pool
        .transaction((tx) => tx.query('select pg_sleep(10), $1::text', [VALUE]), { timeoutMillis: 200 })
        .catch(() => undefined);
      {
        await using held = await pool.acquire();
        await held.query('select $1::text', [VALUE]);
        await pool.query('select $1::text', [VALUE]).catch(() => undefined); // exhausted: timeout
      }
      const withErrors = channels.texts.map((t) => t.text).join('\n');
      expect(channels.texts.length).toBeGreaterThan(50);
      for (const secret of [VALUE, password]) {
        expect(withErrors).not.toContain(secret);
        expect(spanText(traces.spans())).not.toContain(secret);
        expect(JSON.stringify(await metrics.collect())).not.toContain(secret);
      }

      // A statement the server rejects for its value quotes it in pg's own error (which the caller gets, and which
      // a channel's `error` field is): no span or metric carries it, nor any other field of a message.
      const before = channels.texts.length;
      const rejected = await pool.query('select $1::int', [VALUE]).catch((e: unknown) => e);
      expect(String((rejected as Error).message)).toContain(VALUE);
      const after = channels.texts.slice(before);
      expect(after.length).toBeGreaterThan(0);
      expect(after.map((t) => t.withoutError).join('\n')).not.toContain(VALUE);
      expect(spanText(traces.spans())).not.toContain(VALUE);
      expect(JSON.stringify(await metrics.collect())).not.toContain(VALUE);
      // The spans were made, with the statements' text where parameterized: the check saw real spans.
      expect(traces.spans().some((s) => s.attributes['db.query.text'] === 'select $1::int')).toBe(true);
    } finally {
      undo();
      channels.stop();
      await metrics.shutdown();
      await traces.shutdown();
    }
  });
});
