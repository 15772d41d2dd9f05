import type { BenchClient } from '../libraries/types.js';
import { runFor } from '../measure.js';
import { POOL_SIZE } from '../settings.js';
import { randomTransfer } from '../sql.js';
import { runInterleaved } from './interleave.js';
import { METRICS } from './metrics.js';
import type { Workload } from './types.js';

/** 1 worker: transfers (BEGIN, 2 UPDATEs, ledger INSERT, COMMIT) back to back. */
export const transferSeq: Workload = {
  id: 'transfer-seq',
  async run(context) {
    const { settings } = context;
    const op = (client: BenchClient) => client.transfer(randomTransfer());
    const rounds = await runInterleaved(context, {
      id: this.id,
      open: { url: context.url, max: POOL_SIZE, workers: 1 },
      warmup: (client) => runFor(settings.warmupMillis, 1, () => op(client)),
      measure: (client) => runFor(settings.transferSeqMillis, 1, () => op(client)),
    });
    return {
      id: this.id,
      title: 'sequential transfers, 1 worker',
      description:
        `One worker, pool of ${POOL_SIZE}: BEGIN, two UPDATEs (ordered by id), a ledger INSERT, COMMIT; ` +
        `${settings.transferSeqMillis} ms per measurement. CPU per transfer is the library's own cost.`,
      metrics: [METRICS.throughput, METRICS.cpuPerOp, METRICS.p50, METRICS.p99],
      rounds,
    };
  },
};
