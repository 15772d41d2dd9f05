import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, type MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** A reader that collects when asked (the in-memory way to read an SDK meter provider). */
class CollectOnDemand extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** An SDK meter provider and what it recorded, read on demand. */
export function metricKit() {
  const reader = new CollectOnDemand();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    meterProvider,
    /** Every metric recorded so far. */
    async collect(): Promise<MetricData[]> {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
    },
    shutdown: () => meterProvider.shutdown(),
  };
}

/** The value of `name`'s data point whose attributes include `attributes`, or undefined. */
export function pointValue(
  metrics: MetricData[],
  name: string,
  attributes: Record<string, string> = {},
): unknown {
  const metric = metrics.find((m) => m.descriptor.name === name);
  const point = (
    metric?.dataPoints as { attributes: Record<string, unknown>; value: unknown }[] | undefined
  )?.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
  return point?.value;
}

let contextManager: AsyncLocalStorageContextManager | undefined;

/** An SDK tracer provider with an in-memory exporter; the async-hooks context manager made global once. */
export function traceKit() {
  if (!contextManager) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
  }
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return {
    tracerProvider,
    /** The spans ended so far. */
    spans: (): ReadableSpan[] => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    shutdown: () => tracerProvider.shutdown(),
  };
}
