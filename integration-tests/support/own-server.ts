import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createCluster } from '../setup/embedded-cluster.js';

/**
 * A PostgreSQL 18 server of one test's own (the embedded binaries, as the run's embedded server in
 * `setup/embedded-server.ts`), which the test may stop and start again on the same port and data directory:
 * what a test of a server restart needs and the run's shared server must never do.
 */
export interface OwnServer {
  /** Always `'127.0.0.1'`. */
  readonly host: string;
  readonly port: number;
  /** A superuser. */
  readonly user: string;
  readonly password: string;
  /** Whether the server process runs now. */
  readonly running: boolean;
  /**
   * Stops the server with a fast shutdown (SIGINT: open transactions are rolled back, sessions terminated);
   * resolves once the server process has exited. Rejects if it has not exited within the deadline.
   */
  stop(): Promise<void>;
  /** Starts the server again on the same port and data directory; resolves when it accepts connections. */
  start(): Promise<void>;
  /**
   * Stops the server (killing it if a fast shutdown does not end it in time) and deletes its data directory.
   * Never rejects; a second call does nothing.
   */
  destroy(): Promise<void>;
  /** The last lines the server wrote, for a failure message. */
  logTail(): string;
}

/**
 * Starts a throwaway PostgreSQL 18 in a fresh temporary directory, listening on 127.0.0.1 only, on a free port
 * outside the ephemeral range when possible (so no other socket of the run is handed that port while the
 * server is down for a restart). Durability is off (fsync and friends). Rejects if it does not start;
 * everything it made is then already cleaned up and the server's output is in the error message.
 */
export async function startOwnServer(options: { maxConnections?: number } = {}): Promise<OwnServer> {
  const port = await findStablePort();
  const cluster = await createCluster({
    port,
    maxConnections: options.maxConnections ?? 50,
    prefix: 'pg-scope-own-',
  });
  try {
    await cluster.start();
  } catch (error) {
    await cluster.destroy();
    throw new Error(`own PostgreSQL did not start:\n${cluster.logTail()}`, { cause: error });
  }

  return {
    host: '127.0.0.1',
    port,
    user: cluster.user,
    password: cluster.password,
    get running() {
      return cluster.running;
    },
    stop: () => cluster.stop(),
    start: () => cluster.start(),
    destroy: () => cluster.destroy(),
    logTail: () => cluster.logTail(),
  };
}

/**
 * A free TCP port on 127.0.0.1 below the OS's ephemeral range, where no socket is ever given a port
 * implicitly; falls back to a port the OS picks when none of a few random candidates is free.
 */
export async function findStablePort(): Promise<number> {
  const ephemeralStart = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .then((text) => Number(text.trim().split(/\s+/)[0]))
    .catch(() => Number.NaN);
  const low = 20_000;
  const high = Number.isInteger(ephemeralStart) && ephemeralStart > low + 1_000 ? ephemeralStart : 32_768;
  for (let tries = 0; tries < 20; tries++) {
    const candidate = randomInt(low, high);
    if ((await listenOn(candidate).catch(() => undefined)) !== undefined) return candidate;
  }
  return listenOn(0);
}

/** Listens on `port` (0: any) on 127.0.0.1, closes again and resolves with the port; rejects if it is taken. */
function listenOn(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(port, '127.0.0.1', () => {
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
