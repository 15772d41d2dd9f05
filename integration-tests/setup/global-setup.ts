import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { pickServer } from './pick-server.js';
import type { PgServerKind } from './test-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connects as a superuser to a maintenance database of the run's server. */
    pgAdminUrl: string;
    /** Where the server came from. */
    pgServerKind: PgServerKind;
    /** The server's `server_version_num`, e.g. 180004. */
    pgServerVersion: number;
  }
}

/**
 * Vitest global setup: finds or starts the one PostgreSQL server every integration test file uses
 * (each file then creates its own database), provides its admin URL and version to the tests, and
 * returns the teardown that stops it. The server is, in order of preference:
 * `DATABASE_URL` as is; a Testcontainers `postgres:18` when a Docker engine answers and the container
 * starts; an embedded PostgreSQL 18 in a temporary directory (saying why the others were skipped).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await pickServer((line) => console.log(line));
  let version: number;
  try {
    version = await serverVersion(server.adminUrl);
  } catch (error) {
    await server.stop();
    throw error;
  }

  project.provide('pgAdminUrl', server.adminUrl);
  project.provide('pgServerKind', server.kind);
  project.provide('pgServerVersion', version);
  console.log(`integration tests use PostgreSQL ${version} from ${server.kind} at ${where(server.adminUrl)}`);

  return () => server.stop();
}

async function serverVersion(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ version: number }>(
      "select current_setting('server_version_num')::int as version",
    );
    const version = result.rows[0]?.version;
    if (version === undefined) {
      throw new Error('server_version_num returned no row');
    }
    return version;
  } finally {
    await client.end();
  }
}

/** host:port/database of a connection URL, without the credentials. */
function where(url: string): string {
  if (!URL.canParse(url)) {
    return 'a connection string that is not a URL';
  }
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname}`;
}
