import type { BenchClient } from '../libraries/types.js';
import { runFor } from '../measure.js';
import { CONC_WORKERS, POOL_SIZE } from '../settings.js';
import { randomTransfer } from '../sql.js';
import { runInterleaved } from './interleave.js';
import { METRICS } from './metrics.js';
import type { Workload } from './types.js';

/** 32 workers on a pool of 10: transfers between random accounts. */
export const transferConc: Workload = {
  id: 'transfer-conc',
  async run(context) {
    const { settings } = context;
    const op = (client: BenchClient) => client.transfer(randomTransfer());
    const rounds = await runInterleaved(context, {
      id: this.id,
      open: { url: context.url, max: POOL_SIZE, workers: CONC_WORKERS },
      warmup: (client) => runFor(settings.warmupMillis, CONC_WORKERS, () => op(client)),
      measure: (client) => runFor(settings.transferConcMillis, CONC_WORKERS, () => op(client)),
    });
    return {
      id: this.id,
      title: `${CONC_WORKERS} workers, pool of ${POOL_SIZE}`,
      description:
        `${CONC_WORKERS} workers share a pool of ${POOL_SIZE} (the floor: ${CONC_WORKERS} bare clients, one per ` +
        `worker); random account pairs, UPDATEs ordered by id; ${settings.transferConcMillis} ms per measurement.`,
      metrics: [METRICS.throughput, METRICS.cpuPerOp, METRICS.p50, METRICS.p99],
      rounds,
    };
  },
};
