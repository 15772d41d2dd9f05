import { runFor } from '../measure.js';
import { POOL_SIZE } from '../settings.js';
import { runInterleaved } from './interleave.js';
import { METRICS } from './metrics.js';
import type { Workload } from './types.js';

/** 1 worker: acquire, `SELECT 1`, release, back to back. */
export const select1: Workload = {
  id: 'select1',
  async run(context) {
    const { settings } = context;
    const rounds = await runInterleaved(context, {
      id: this.id,
      open: { url: context.url, max: POOL_SIZE, workers: 1 },
      warmup: (client) => runFor(settings.warmupMillis, 1, () => client.select1()),
      measure: (client) => runFor(settings.select1Millis, 1, () => client.select1()),
    });
    return {
      id: this.id,
      title: 'acquire + `SELECT 1` + release, 1 worker',
      description: `One worker, pool of ${POOL_SIZE}, ${settings.select1Millis} ms per measurement.`,
      metrics: [METRICS.throughput, METRICS.cpuPerOp, METRICS.p50, METRICS.p99],
      rounds,
    };
  },
};
