import { dockerAnswers, startContainerServer } from './container-server.js';
import { startEmbeddedServer } from './embedded-server.js';
import type { TestServer } from './test-server.js';

/**
 * The PostgreSQL server the tests and the demo use, in order of preference: `DATABASE_URL` as is; a
 * Testcontainers `postgres:18` when a Docker engine answers and the container starts; else an embedded
 * PostgreSQL 18. When it falls back, `say` gets one line saying why each earlier choice was skipped.
 */
export async function pickServer(say: (line: string) => void): Promise<TestServer> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    return { kind: 'DATABASE_URL', adminUrl: databaseUrl, stop: async () => {} };
  }
  let dockerSkipped: string;
  if (await dockerAnswers()) {
    try {
      return await startContainerServer();
    } catch (error) {
      dockerSkipped = `a Docker engine answers but the postgres:18 container did not start (${firstLine(error)})`;
    }
  } else {
    dockerSkipped = 'no Docker engine answers';
  }
  say(`using an embedded PostgreSQL 18: DATABASE_URL is not set, and ${dockerSkipped}`);
  return startEmbeddedServer();
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]?.trim() || 'no message';
}
