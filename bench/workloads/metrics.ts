import type { MetricSpec } from './types.js';

/** Columns shared by the workloads. */
export const METRICS = {
  throughput: { key: 'throughput', label: 'ops/s', digits: 0, better: 'higher', ratio: true },
  cpuPerOp: { key: 'cpuPerOp', label: 'CPU µs/op', digits: 0, better: 'lower', ratio: true },
  msPerOp: { key: 'msPerOp', label: 'ms/op', digits: 2, better: 'lower', ratio: true },
  p50: { key: 'p50', label: 'p50 ms', digits: 2, better: 'lower', ratio: false },
  p99: { key: 'p99', label: 'p99 ms', digits: 2, better: 'lower', ratio: false },
  max: { key: 'max', label: 'max ms', digits: 1, better: 'lower', ratio: false },
  wall: { key: 'wall', label: 'wall ms', digits: 0, better: 'lower', ratio: true },
  roundTrips: { key: 'roundTrips', label: 'round trips/op', digits: 2, better: 'lower', ratio: false },
  clientMessages: { key: 'clientMessages', label: 'msgs sent/op', digits: 1, better: 'lower', ratio: false },
  parseMessages: { key: 'parseMessages', label: 'Parse msgs/op', digits: 1, better: 'lower', ratio: false },
  bytes: { key: 'bytes', label: 'bytes/op (both ways)', digits: 0, better: 'lower', ratio: false },
  timeToError: { key: 'timeToError', label: 'time to error ms', digits: 1, better: 'lower', ratio: false },
} as const satisfies Record<string, MetricSpec>;
