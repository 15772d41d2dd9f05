/**
 * A pool watched through OpenTelemetry with `pg-scope/otel`: the semantic-convention connection-pool metrics
 * and one span per transaction scope, printed from the SDK's in-memory exporters after a few transactions (one
 * committed, one rolled back, one retried after a serialization failure), all inside a `checkout` span.
 *
 * A service registers its own providers (`NodeSDK`, an OTLP or Prometheus exporter) and calls
 * `instrumentPool(pool)` without options; here the providers are passed in so that nothing is global but the
 * context manager.
 *
 *     npm run example opentelemetry          # DATABASE_URL, or an embedded PostgreSQL started for the run
 */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
// In a service: `from 'pg-scope/otel'` and `from 'pg-scope'`.
import { instrumentPool } from '../src/adapters/otel.js';
import { createPool } from '../src/index.js';

/** What the example saw: the span names and outcomes, and each metric with its unit and values. */
export interface Observed {
  spans: { name: string; parent: string | undefined; outcome: unknown; attempts: unknown }[];
  metrics: Record<string, { unit: string; values: string[] }>;
}

export async function main(connectionString: string): Promise<Observed> {
  // What makes "child of the active span" work; NodeSDK sets it up in a service.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 60_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });

  await using pool = createPool({ connectionString, name: 'shop', max: 2 });
  const uninstrument = instrumentPool(pool, { meterProvider, tracerProvider });
  try {
    const tracer = tracerProvider.getTracer('example');
    await tracer.startActiveSpan('checkout', async (checkout) => {
      await pool.transaction((tx) => tx.query('select $1::int as total', [42]));
      await pool
        .transaction(async (tx) => {
          await tx.query('select 1');
          throw new Error('payment declined');
        })
        .catch(() => undefined);
      let attempt = 0;
      await pool.transaction(
        async (tx) => {
          if (++attempt === 1) {
            await tx.query(`do $$ begin raise exception 'conflict' using errcode = '40001'; end $$`);
          }
          await tx.query('select 2');
        },
        { isolation: 'serializable', retry: { maxAttempts: 3, baseDelayMillis: 5 } },
      );
      checkout.end();
    });
    await reader.forceFlush();
  } finally {
    uninstrument();
  }

  const finished = spanExporter.getFinishedSpans();
  const nameOf = (spanId: string | undefined) =>
    finished.find((s) => s.spanContext().spanId === spanId)?.name;
  const observed: Observed = {
    spans: finished.map((s) => ({
      name: s.name,
      parent: nameOf(s.parentSpanContext?.spanId),
      outcome: s.attributes['pg_scope.transaction.outcome'],
      attempts: s.attributes['pg_scope.transaction.attempts'],
    })),
    metrics: {},
  };
  for (const resource of metricExporter.getMetrics().slice(-1)) {
    for (const metric of resource.scopeMetrics.flatMap((scope) => scope.metrics)) {
      observed.metrics[metric.descriptor.name] = {
        unit: metric.descriptor.unit,
        values: metric.dataPoints.map((p) => {
          const state = p.attributes['db.client.connection.state'];
          const value = p.value as number | { count: number; sum: number };
          const shown =
            typeof value === 'number' ? String(value) : `count ${value.count}, sum ${value.sum.toFixed(4)}`;
          return `${p.attributes['db.client.connection.pool.name']}${state ? ` ${state}` : ''}: ${shown}`;
        }),
      };
    }
  }
  console.log('spans:');
  for (const s of observed.spans) {
    const tx = s.outcome === undefined ? '' : ` outcome=${String(s.outcome)} attempts=${String(s.attempts)}`;
    console.log(`  ${s.name}${s.parent ? ` (child of ${s.parent})` : ''}${tx}`);
  }
  console.log('metrics:');
  for (const [name, m] of Object.entries(observed.metrics))
    console.log(`  ${name} [${m.unit}] ${m.values.join('; ')}`);

  await meterProvider.shutdown();
  await tracerProvider.shutdown();
  contextManager.disable();
  return observed;
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
