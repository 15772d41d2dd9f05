import { runBurst } from '../measure.js';
import { POOL_SIZE } from '../settings.js';
import { randomTransfer } from '../sql.js';
import { runInterleaved } from './interleave.js';
import { METRICS } from './metrics.js';
import type { Workload } from './types.js';

/** 2,000 callers at once on a pool of 10, one transfer each. */
export const oversubscribed: Workload = {
  id: 'oversubscribed',
  async run(context) {
    const { settings } = context;
    const callers = settings.oversubscribedCallers;
    const rounds = await runInterleaved(context, {
      id: this.id,
      open: { url: context.url, max: POOL_SIZE, workers: callers },
      warmup: (client) => runBurst(settings.warmupCallers, () => client.transfer(randomTransfer())),
      measure: (client) => runBurst(callers, () => client.transfer(randomTransfer())),
    });
    return {
      id: this.id,
      title: `${callers.toLocaleString('en-US')} callers at once, pool of ${POOL_SIZE}`,
      description:
        `${callers} transfers started in the same tick on a pool of ${POOL_SIZE} (the floor: ${POOL_SIZE} bare ` +
        'clients behind a plain FIFO free list). Wall time until the last one finished; p99 and max of each ' +
        "caller's time from the start to its transfer's end (its wait for a connection plus its own work).",
      metrics: [METRICS.wall, METRICS.p99, METRICS.max, METRICS.cpuPerOp],
      rounds,
    };
  },
};
