import { type MeterProvider, metrics, type TracerProvider, trace } from '@opentelemetry/api';
import type { Pool } from '../index.js';
import { recordPoolMetrics } from './otel-metrics.js';
import { recordPoolSpans } from './otel-spans.js';

export { TRANSACTION_SPAN_NAME } from './otel-spans.js';

/** The instrumentation scope name of pg-scope's meter and tracer. */
export const INSTRUMENTATION_NAME = 'pg-scope';

/** Options of {@link instrumentPool}. */
export interface InstrumentPoolOptions {
  /** Where the metrics go. Default: the global meter provider (`metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider;
  /** Where the spans go. Default: the global tracer provider (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /**
   * `true`: a span per statement too, child of its transaction's span. Default `false`, so that users of
   * `@opentelemetry/instrumentation-pg` (which already makes one per query) do not get each query twice.
   */
  querySpans?: boolean;
}

/**
 * Instruments `pool` with OpenTelemetry: the database-client connection-pool metrics (semantic conventions
 * v1.37.0: `db.client.connection.count` by `db.client.connection.state`, `.idle.max`, `.idle.min`, `.max`,
 * `.pending_requests`, `.timeouts`, and the `.create_time`, `.wait_time`, `.use_time` histograms in seconds,
 * each with `db.client.connection.pool.name` = `pool.name`), and one span per top-level transaction scope,
 * child of the span active where the scope started. It subscribes to pg-scope's diagnostics channels and
 * observes `pool.stats()`; nothing in the pool changes. Parameter values, passwords and error messages never
 * reach a metric or a span. Returns a function that removes the instrumentation (idempotent).
 */
export function instrumentPool(pool: Pool, options: InstrumentPoolOptions = {}): () => void {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME);
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME);
  const stopMetrics = recordPoolMetrics(pool, meter);
  const stopSpans = recordPoolSpans(pool, tracer, options.querySpans === true);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    stopMetrics();
    stopSpans();
  };
}
