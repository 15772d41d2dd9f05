/**
 * Finds a PostgreSQL server for the demo and the examples, as the integration tests do: `DATABASE_URL` when it
 * is set, else a Testcontainers `postgres:18` when Docker answers and the container starts, else a throwaway
 * embedded PostgreSQL 18, so `npm run demo` needs neither a database nor Docker.
 */
import { pickServer } from '../integration-tests/setup/pick-server.js';

/** A server to run against, and how to let it go. */
export interface ScriptServer {
  /** Connection URL, credentials included: pass it to `createPool`, never print it. */
  readonly url: string;
  /** Where the server is, without credentials, for a line of output. */
  readonly description: string;
  /** Stops the server if this process started it; a no-op for `DATABASE_URL`. */
  stop(): Promise<void>;
}

/** `DATABASE_URL` as is, a container, or a freshly started embedded PostgreSQL 18 (see `pickServer`). */
export async function startScriptServer(): Promise<ScriptServer> {
  const server = await pickServer((line) => console.log(line));
  const descriptions = {
    DATABASE_URL: `DATABASE_URL (${where(server.adminUrl)})`,
    testcontainers: `a postgres:18 container at ${where(server.adminUrl)}, removed at the end`,
    embedded: `an embedded PostgreSQL 18 at ${where(server.adminUrl)}, deleted at the end`,
  };
  return { url: server.adminUrl, description: descriptions[server.kind], stop: () => server.stop() };
}

/**
 * Runs `work` against a server and exits with its verdict: 0 when it resolved, 1 when it or the server's
 * start or stop failed (the error is printed). The `exit` listener below keeps a failure's code whatever else
 * calls exit.
 */
export async function runWithServer(work: (server: ScriptServer) => Promise<void>): Promise<void> {
  let failed = false;
  process.on('exit', () => {
    if (failed) process.exitCode = 1;
  });
  const fail = (what: string, error: unknown) => {
    failed = true;
    process.exitCode = 1;
    console.error(`\n${what}:`, error);
  };

  let server: ScriptServer;
  try {
    server = await startScriptServer();
  } catch (error) {
    fail('could not get a PostgreSQL server', error);
    return;
  }
  try {
    await work(server);
  } catch (error) {
    fail('failed', error);
  } finally {
    await server.stop().catch((error: unknown) => fail('could not stop the server', error));
  }
}

/** host:port/database of a connection URL, without the credentials. */
function where(url: string): string {
  if (!URL.canParse(url)) return 'a connection string';
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname}`;
}
