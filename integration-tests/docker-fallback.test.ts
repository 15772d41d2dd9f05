import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { delimiter, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const binDir = resolve(root, 'node_modules/.bin');

/**
 * A Docker engine that answers (ping, info, version) but cannot pull an image: every other request fails
 * with 500 and the "no such host" message a daemon without a reachable registry gives.
 */
function startFakeDocker(requests: string[]): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').replace(/^\/v[\d.]+/, '').split('?')[0] ?? '';
    requests.push(`${request.method} ${path}`);
    const json = (code: number, body: unknown) => {
      response.writeHead(code, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (path === '/_ping') {
      response.writeHead(200, { 'content-type': 'text/plain', 'api-version': '1.41' });
      response.end('OK');
    } else if (path === '/info') {
      json(200, {
        ServerVersion: '20.10.24',
        OperatingSystem: 'Debian',
        OSType: 'linux',
        Architecture: 'x86_64',
        NCPU: 2,
        MemTotal: 1e9,
        Labels: [],
        IndexServerAddress: 'https://index.docker.io/v1/',
      });
    } else if (path === '/version') {
      json(200, { ApiVersion: '1.41', Version: '20.10.24', Os: 'linux', Arch: 'amd64' });
    } else if (path.startsWith('/images/') && path.endsWith('/json')) {
      json(404, { message: 'No such image' });
    } else {
      json(500, {
        message:
          'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
      });
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address !== null && typeof address === 'object') resolvePromise({ server, port: address.port });
      else reject(new Error('no port'));
    });
  });
}

describe('server choice with a Docker engine that answers but cannot pull', () => {
  const requests: string[] = [];
  let fake: { server: Server; port: number };
  let run: { code: number | null; output: string };

  beforeAll(async () => {
    fake = await startFakeDocker(requests);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DOCKER_HOST: `tcp://127.0.0.1:${fake.port}`,
      TESTCONTAINERS_RYUK_DISABLED: 'true',
      PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}`,
      NO_COLOR: '1',
    };
    delete env.DATABASE_URL;
    run = await new Promise((resolvePromise) => {
      execFile(
        resolve(binDir, 'tsx'),
        ['demo/demo.ts'],
        { cwd: root, env, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
          resolvePromise({ code, output: `${stdout}\n${stderr}` });
        },
      );
    });
  }, 120_000);

  afterAll(async () => {
    await new Promise((done) => fake?.server.close(done));
  });

  it('tries to pull, falls back to the embedded server, says why in one line, and the demo passes', () => {
    expect(requests).toContain('POST /images/create');
    const reasons = run.output
      .split('\n')
      .filter((line) => line.startsWith('using an embedded PostgreSQL 18:'));
    expect(reasons, run.output).toHaveLength(1);
    expect(reasons[0]).toMatch(
      /DATABASE_URL is not set, and a Docker engine answers but the postgres:18 container/,
    );
    expect(reasons[0]).toMatch(/no such host/);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/Demo finished in [\d.]+ s: all five steps passed\./);
  });
});
