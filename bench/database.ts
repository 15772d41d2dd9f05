import pg from 'pg';
import { startEmbeddedServer } from '../integration-tests/setup/embedded-server.js';
import { DROP_SQL, SCHEMA_SQL } from './sql.js';

/** The database the run uses, and how to let it go. */
export interface BenchDatabase {
  /** Connection URL (contains the password: never print it). */
  readonly url: string;
  /** `'DATABASE_URL'` or `'embedded'`. */
  readonly source: string;
  /** The server's version string, e.g. `18.0`. */
  readonly serverVersion: string;
  /** Drops the benchmark's tables and stops the server if the run started it. */
  stop(): Promise<void>;
}

/** `DATABASE_URL` when set, otherwise a throwaway embedded PostgreSQL 18; then (re)creates the schema. */
export async function openDatabase(): Promise<BenchDatabase> {
  const given = process.env.DATABASE_URL;
  const server = given ? undefined : await startEmbeddedServer();
  const url = given ?? (server?.adminUrl as string);
  try {
    const serverVersion = await run(url, async (client) => {
      for (const statement of SCHEMA_SQL) await client.query(statement);
      const result = await client.query<{ server_version: string }>('SHOW server_version');
      return result.rows[0]?.server_version ?? 'unknown';
    });
    return {
      url,
      source: given ? 'DATABASE_URL' : 'embedded',
      serverVersion,
      async stop() {
        try {
          await run(url, async (client) => {
            for (const statement of DROP_SQL) await client.query(statement);
          });
        } finally {
          await server?.stop();
        }
      },
    };
  } catch (err) {
    await server?.stop();
    throw err;
  }
}

/** Runs `work` on a connection of its own, always closed afterwards. */
export async function run<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
