import type { BenchClient } from '../libraries/types.js';
import { runFor } from '../measure.js';
import { POOL_SIZE } from '../settings.js';
import { randomTransfer, STATEMENTS_PER_TRANSFER } from '../sql.js';
import { startDelayProxy } from '../wire/delay-proxy.js';
import { runInterleaved } from './interleave.js';
import { METRICS } from './metrics.js';
import type { Workload } from './types.js';

/**
 * `transfer-seq` through a TCP proxy that holds every chunk a few milliseconds each way, as a network
 * would: round trips decide the speed. The proxy also counts round trips, messages and bytes per transfer.
 */
export const transferSeqDelayed: Workload = {
  id: 'transfer-seq-delayed',
  async run(context) {
    const { settings } = context;
    const proxy = await startDelayProxy(context.url, settings.delayMillis);
    try {
      const op = (client: BenchClient) => client.transfer(randomTransfer());
      const rounds = await runInterleaved(context, {
        id: this.id,
        open: { url: proxy.url, max: POOL_SIZE, workers: 1 },
        warmup: (client) => runFor(settings.warmupMillis, 1, () => op(client)),
        async measure(client) {
          const figures = await runFor(
            settings.delayedMillis,
            1,
            () => op(client),
            () => proxy.reset(),
          );
          const wire = await proxy.read();
          const ops = figures.ops as number;
          return {
            ...figures,
            roundTrips: wire.roundTrips / ops,
            clientMessages: wire.clientMessages / ops,
            parseMessages: wire.parseMessages / ops,
            bytes: (wire.clientBytes + wire.serverBytes) / ops,
          };
        },
      });
      const k = STATEMENTS_PER_TRANSFER;
      return {
        id: this.id,
        title: `\`transfer-seq\` through a ${settings.delayMillis} ms-each-way delay proxy, with wire counts`,
        description:
          `As \`transfer-seq\`, through a TCP proxy on 127.0.0.1 that holds every chunk ${settings.delayMillis} ms ` +
          `each way; ${settings.delayedMillis} ms per measurement. The proxy counts a round trip each time a client ` +
          `sends after the server last spoke: a transfer of k = ${k} statements costs k + 2 = ${k + 2} with BEGIN ` +
          `and COMMIT on their own, k + 1 = ${k + 1} when BEGIN travels with the first statement. Messages are ` +
          'protocol messages the client sent (an extended-protocol query is Parse/Bind/Describe/Execute/Sync); ' +
          'Parse messages are the statements the server parsed and planned again (0 when all were prepared).',
        metrics: [
          METRICS.throughput,
          METRICS.msPerOp,
          METRICS.cpuPerOp,
          METRICS.roundTrips,
          METRICS.clientMessages,
          METRICS.parseMessages,
          METRICS.bytes,
        ],
        rounds,
      };
    } finally {
      await proxy.stop();
    }
  },
};
