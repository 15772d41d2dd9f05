import { Socket } from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../src/index.js';
import { endClient, holdProcess } from '../src/pool/pg-client-internals.js';
import { captureLog, pollUntil, settle } from './support/pool-test-kit.js';
import { type StubbornServer, startStubbornServer } from './support/stubborn-server.js';

/** Sockets keeping this process alive: the stubborn server unrefs its own, so these are the client side's. */
function liveSockets(): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'TCPSocketWrap').length;
}

/** Waits up to `timeoutMillis` for `count` sessions of `server` to have ended; resolves with how many had. */
function sessionsEnded(server: StubbornServer, count: number, timeoutMillis: number): Promise<number> {
  return pollUntil(
    () => server.sessionsEnded,
    (n) => n >= count,
    timeoutMillis,
  );
}

/**
 * Closing against a server that never lets go (a hostile server, or a partition where TCP retries for about
 * 15 minutes): Terminate is ignored, no socket is ever closed from its side, a query never finishes.
 */
describe('close() against a server that never closes a socket', () => {
  const servers: StubbornServer[] = [];
  const pools: Pool[] = [];

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.close({ timeoutMillis: 0 })));
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  async function setUp(cancelSockets: 'close' | 'hold', max: number) {
    const server = await startStubbornServer({ cancelSockets });
    servers.push(server);
    const pool = createPool({
      host: server.host,
      port: server.port,
      user: 'app',
      database: 'app',
      max,
      logger: captureLog('warn').logger,
    });
    pools.push(pool);
    return { server, pool };
  }

  it('settles within timeoutMillis plus a small bound, and leaves no socket of its own open', async () => {
    const baseline = liveSockets();
    const { server, pool } = await setUp('hold', 4);
    // An idle connection, a borrowed one stuck in a query, and one whose scope ended while its query ran (its
    // cancel requests are under way when close() starts).
    const [idle, held, ended] = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    await idle.query('select 1');
    await idle.release();
    for (const conn of [held, ended]) {
      conn.query('select stuck').catch(() => {
        // Cut off by the close; what it rejects with is not the point here.
      });
    }
    await ended.release();
    expect(server.sessions).toBe(3);
    expect(pool.stats()).toMatchObject({ idle: 1, borrowed: 1 });

    const closing = await settle(pool.close({ timeoutMillis: 500 }));

    expect(closing.ok).toBe(true);
    // The borrowed connection had its 500 ms to come back.
    expect(closing.millis).toBeGreaterThanOrEqual(450);
    // Loose: the bound after the timeout is a few hundred milliseconds, on a loaded machine more.
    expect(closing.millis).toBeLessThan(2_500);
    // The server ignored every goodbye, and still every connection is gone: the pool destroyed the sockets.
    expect(server.terminates).toBeGreaterThanOrEqual(1);
    expect(await pollUntil(liveSockets, (n) => n === baseline, 1_000)).toBe(baseline);
    expect(await sessionsEnded(server, 3, 1_000)).toBe(3);
    expect(pool.stats()).toMatchObject({ created: 3, destroyed: 3, borrowed: 0, idle: 0 });
  });

  it('sends a query that will not stop a bounded number of cancel requests, with growing pauses', async () => {
    const { server, pool } = await setUp('close', 1);
    await pool.acquire(async (conn) => {
      conn.query('select stuck').catch(() => {
        // The connection is destroyed under it.
      });
    });

    // The cancel requests give up after about 2 s; then the connection is destroyed.
    expect(await sessionsEnded(server, 1, 8_000)).toBe(1);

    // Repeated (the query never stopped), but a handful: 50 ms doubling to 500 ms within 2 s is 7 requests,
    // where one every 50 ms would be about 40.
    expect(server.cancels.length).toBeGreaterThanOrEqual(2);
    expect(server.cancels.length).toBeLessThanOrEqual(8);
    // Each one names the connection's own backend, with its secret key.
    expect(new Set(server.cancels.map((c) => `${c.processId}/${c.secretKey}`))).toEqual(
      new Set([`1000/${1000 * 7 + 1}`]),
    );
    expect(pool.stats()).toMatchObject({ created: 1, destroyed: 1, borrowed: 0 });
  });

  it('cuts those cancel requests short when close() starts, counting them against its timeout', async () => {
    const { server, pool } = await setUp('hold', 1);
    await pool.acquire(async (conn) => {
      conn.query('select stuck').catch(() => {
        // The connection is destroyed under it.
      });
    });

    const closing = await settle(pool.close({ timeoutMillis: 100 }));

    expect(closing.ok).toBe(true);
    // Without the cut, the cancel requests alone would go on for 2 s.
    expect(closing.millis).toBeLessThan(1_500);
    expect(server.cancels.length).toBeGreaterThanOrEqual(1);
    expect(server.cancels.length).toBeLessThanOrEqual(2);
    expect(await sessionsEnded(server, 1, 1_000)).toBe(1);
  });

  it("pg's Client still has the socket pg-scope unrefs and destroys (src/pool/pg-client-internals.ts)", async () => {
    const server = await startStubbornServer();
    servers.push(server);
    const client = new pg.Client({ host: server.host, port: server.port, user: 'app', database: 'app' });
    client.on('error', () => {
      // Destroying the socket is the point of this test.
    });
    await client.connect();
    expect(client.connection.stream).toBeInstanceOf(Socket);
    const before = liveSockets();

    holdProcess(client, false);
    expect(liveSockets()).toBe(before - 1);
    holdProcess(client, true);
    expect(liveSockets()).toBe(before);

    // The server ignores Terminate: endClient destroys the socket after its wait.
    await endClient(client, 100);
    expect(server.terminates).toBe(1);
    expect(client.connection.stream.destroyed).toBe(true);
    expect(await sessionsEnded(server, 1, 1_000)).toBe(1);
  });
});
