import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { inject } from 'vitest';

/** Where a test database is, as the separate fields pg's `ClientConfig` takes. */
export interface TestDatabaseConfig {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

/** A database of its own for one test file (or one test), on the run's server. */
export interface TestDatabase {
  /** Connection URL for this database, as the superuser. */
  url: string;
  /** The same as {@link url}, split into fields. */
  config: TestDatabaseConfig;
  /** The database name, `t_` followed by random hex. */
  name: string;
  /** Runs one statement in this database as the superuser, on a connection of its own; rejects with pg's error. */
  admin: (sql: string, values?: unknown[]) => Promise<pg.QueryResult>;
  /** Ends every remaining session in the database and drops it. A second call does nothing. */
  drop: () => Promise<void>;
}

/** The run's admin URL with its database name replaced by `database`. */
function urlFor(database: string): URL {
  const adminUrl = inject('pgAdminUrl');
  if (!URL.canParse(adminUrl)) {
    throw new Error(
      'the test server connection string must be a URL (postgres://user:password@host:port/db)',
    );
  }
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url;
}

function configFor(url: URL, database: string): TestDatabaseConfig {
  const config: TestDatabaseConfig = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 5432 : Number(url.port),
    user: decodeURIComponent(url.username),
    database,
  };
  if (url.password !== '') {
    config.password = decodeURIComponent(url.password);
  }
  return config;
}

/** Runs `work` on a fresh connection to `connectionString` and always closes it. */
async function withClient<T>(connectionString: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString, application_name: 'pg-scope-tests-admin' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates a fresh, empty, uniquely named database on the run's server (see the global setup), as
 * the superuser. Rejects with pg's error if the server refuses. Drop it with `drop()` when done.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `t_${randomBytes(8).toString('hex')}`;
  const adminUrl = inject('pgAdminUrl');
  // template0 is never connected to, so the copy cannot fail on "source database is being accessed".
  // On PG 15+ file_copy (copy the files, then checkpoint) was never slower than the default wal_log
  // (which writes the whole template to WAL) in our measurements, and often faster.
  const strategy = inject('pgServerVersion') >= 150000 ? ' strategy file_copy' : '';
  await withClient(adminUrl, (client) =>
    client.query(`create database ${client.escapeIdentifier(name)} template template0${strategy}`),
  );

  const url = urlFor(name);
  const dropOnce = () =>
    withClient(adminUrl, async (client) => {
      if (inject('pgServerVersion') >= 130000) {
        await client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`);
      } else {
        await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [
          name,
        ]);
        await client.query(`drop database if exists ${client.escapeIdentifier(name)}`);
      }
    });
  let dropped: Promise<void> | undefined;

  return {
    url: url.href,
    config: configFor(url, name),
    name,
    admin: (sql, values) => withClient(url.href, (client) => client.query(sql, values)),
    drop: () => {
      dropped ??= dropOnce();
      return dropped;
    },
  };
}

/**
 * Counts the client sessions connected to database `dbName` (optionally only those with
 * `application_name` = `applicationName`), not counting the connection that asks.
 */
export async function countConnections(dbName: string, applicationName?: string): Promise<number> {
  return withClient(inject('pgAdminUrl'), async (client) => {
    const result = await client.query<{ count: number }>(
      `select count(*)::int as count
         from pg_stat_activity
        where datname = $1
          and backend_type = 'client backend'
          and pid <> pg_backend_pid()
          and ($2::text is null or application_name = $2)`,
      [dbName, applicationName ?? null],
    );
    return result.rows[0]?.count ?? 0;
  });
}

/**
 * Polls {@link countConnections} until it equals `expected` (a closed connection's backend takes a
 * moment to leave `pg_stat_activity`) or `timeoutMillis` passes; resolves with the last count.
 */
export async function waitForConnections(
  dbName: string,
  expected: number,
  options: { applicationName?: string; timeoutMillis?: number } = {},
): Promise<number> {
  const deadline = Date.now() + (options.timeoutMillis ?? 5_000);
  for (;;) {
    const count = await countConnections(dbName, options.applicationName);
    if (count === expected || Date.now() >= deadline) {
      return count;
    }
    await sleep(25);
  }
}
