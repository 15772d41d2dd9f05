/** What the observability benchmarks share: OpenTelemetry providers that export to nothing, and the transfer. */
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Pool } from '../src/index.js';
import { INSERT_LEDGER, randomTransfer, UPDATE_BALANCE } from './sql.js';

const dropSpans: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
};

const dropMetrics: PushMetricExporter = {
  export: (_metrics, done) => done({ code: 0 }),
  forceFlush: async () => {},
  shutdown: async () => {},
};

/** The SDK 2.x meter provider (a periodic reader every second) and tracer provider (batch processor), dropping all. */
export function noopProviders(): {
  meterProvider: MeterProvider;
  tracerProvider: BasicTracerProvider;
  shutdown(): void;
} {
  const meterProvider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: dropMetrics, exportIntervalMillis: 1_000 })],
  });
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropSpans)] });
  return {
    meterProvider,
    tracerProvider,
    shutdown() {
      void meterProvider.shutdown();
      void tracerProvider.shutdown();
    },
  };
}

/** One transfer in a pg-scope transaction scope: two UPDATEs and a ledger INSERT. */
export function transfer(pool: Pool): Promise<void> {
  const t = randomTransfer();
  return pool.transaction(async (tx) => {
    await tx.query(UPDATE_BALANCE, [t.firstDelta, t.firstId]);
    await tx.query(UPDATE_BALANCE, [t.secondDelta, t.secondId]);
    await tx.query(INSERT_LEDGER, [t.from, t.to, t.amount]);
  });
}
