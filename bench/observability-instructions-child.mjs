// One measured process of bench/observability-instructions.ts (run under callgrind): `WARMUP` + `COUNT`
// transfers one after another on a pool of 2 from the compiled tree in `PG_SCOPE_DIR`, in variant `VARIANT`.
import diagnostics_channel from 'node:diagnostics_channel';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

const dir = process.env.PG_SCOPE_DIR;
const variant = process.env.VARIANT;
const warmup = Number(process.env.WARMUP);
const count = Number(process.env.COUNT);
const { createPool, ChannelName } = await import(pathToFileURL(join(dir, 'index.js')).href);

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const pool = createPool({
  connectionString: process.env.DATABASE_URL,
  max: 2,
  application_name: 'instructions',
});
const noop = () => {};
if (variant === 'noop') {
  for (const name of [ChannelName.acquire, ChannelName.transaction, ChannelName.query]) {
    diagnostics_channel
      .tracingChannel(name)
      .subscribe({ start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop });
  }
  for (const name of [ChannelName.transactionAttempt, ChannelName.connect, ChannelName.release]) {
    diagnostics_channel.subscribe(name, noop);
  }
}
if (variant === 'noop-otel') {
  // Subscribers that do nothing on just the events instrumentPool (without query spans) listens to.
  diagnostics_channel.subscribe(`tracing:${ChannelName.acquire}:asyncEnd`, noop);
  diagnostics_channel.subscribe(`tracing:${ChannelName.transaction}:start`, noop);
  diagnostics_channel.subscribe(`tracing:${ChannelName.transaction}:asyncEnd`, noop);
  for (const name of [ChannelName.transactionAttempt, ChannelName.connect, ChannelName.release]) {
    diagnostics_channel.subscribe(name, noop);
  }
}
let providers = [];
if (variant === 'otel' || variant === 'otel-query') {
  const { instrumentPool } = await import(pathToFileURL(join(dir, 'adapters', 'otel.js')).href);
  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: {
          export: (_m, done) => done({ code: 0 }),
          forceFlush: async () => {},
          shutdown: async () => {},
        },
        // A collection is a cost per second, not per transaction: none during the run.
        exportIntervalMillis: 3_600_000,
      }),
    ],
  });
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [
      new BatchSpanProcessor({ export: (_s, done) => done({ code: 0 }), shutdown: async () => {} }),
    ],
  });
  instrumentPool(pool, { meterProvider, tracerProvider, querySpans: variant === 'otel-query' });
  providers = [meterProvider, tracerProvider];
}

const UPDATE = 'UPDATE bench_accounts SET balance = balance + $1 WHERE id = $2';
const INSERT = 'INSERT INTO bench_ledger (from_id, to_id, amount) VALUES ($1, $2, $3)';
// Deterministic transfers: the same statements in every process.
const transfer = (i) => {
  const a = 1 + (i % 500);
  const b = 501 + ((i * 7) % 500);
  return pool.transaction(async (tx) => {
    await tx.query(UPDATE, [-1, a]);
    await tx.query(UPDATE, [1, b]);
    await tx.query(INSERT, [a, b, 1]);
  });
};
// WORKERS > 1 (for a profile, not for the counts): that many callers at once, each its share of the transfers.
const workers = Number(process.env.WORKERS ?? 1);
let done = 0;
await Promise.all(
  Array.from({ length: workers }, async () => {
    while (done < warmup + count) await transfer(done++);
  }),
);
await pool.close();
for (const provider of providers) await provider.shutdown();
