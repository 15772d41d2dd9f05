import { randomBytes } from 'node:crypto';
import type { TestServer } from './test-server.js';

/** The Docker engine either answers at once or is not there; we never wait long to find out. */
const DOCKER_PROBE_MILLIS = 1_500;

const IMAGE = 'postgres:18';

/**
 * Whether a Docker engine answers, asked through Testcontainers' own runtime discovery
 * (DOCKER_HOST, ~/.testcontainers.properties, the usual sockets). Resolves false, never rejects,
 * within about {@link DOCKER_PROBE_MILLIS}.
 */
export async function dockerAnswers(): Promise<boolean> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), DOCKER_PROBE_MILLIS);
  });
  try {
    return await Promise.race([getContainerRuntimeClient().then(() => true), deadline]);
  } catch {
    // No working container runtime: the caller falls back to another server.
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a `postgres:18` container. Rejects if the image cannot be pulled or the server does not start. */
export async function startContainerServer(): Promise<TestServer> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer(IMAGE)
    .withDatabase('postgres')
    .withUsername('postgres')
    .withPassword(randomBytes(16).toString('hex'))
    .withCommand(['postgres', '-c', 'max_connections=300', '-c', 'fsync=off', '-c', 'synchronous_commit=off'])
    .start();
  return {
    kind: 'testcontainers',
    adminUrl: container.getConnectionUri(),
    stop: async () => {
      await container.stop();
    },
  };
}
