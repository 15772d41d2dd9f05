import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectError, createPool, type Pool, type PoolConfig, PoolExhaustedError } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';
import {
  appName,
  captureLog,
  closedPort,
  type FakeServer,
  pollUntil,
  rejection,
  settle,
  startFakeServer,
} from './support/pool-test-kit.js';

describe('connection failures', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];
  const servers: FakeServer[] = [];
  const role = `pgscope_${randomBytes(6).toString('hex')}`;
  const rolePassword = randomBytes(12).toString('hex');

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin(`create role ${role} login password '${rolePassword}'`);
    await db.admin(`grant connect on database ${db.name} to ${role}`);
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close({ timeoutMillis: 0 })));
    await Promise.all(servers.map((server) => server.close()));
    await db?.drop();
    // Roles belong to the server, not the database: drop it through the maintenance database.
    const admin = new pg.Client({ ...db.config, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`drop role if exists ${role}`);
    } finally {
      await admin.end();
    }
  });

  function makePool(config: PoolConfig) {
    const log = captureLog('debug');
    const pool = createPool({ application_name: appName('connfail'), logger: log.logger, ...config });
    pools.push(pool);
    return { pool, log };
  }

  async function fakeServer(mode: 'reset' | 'silent'): Promise<FakeServer> {
    const server = await startFakeServer(mode);
    servers.push(server);
    return server;
  }

  it('retries a server that resets every connection, paced, and rejects with ConnectError at the deadline', async () => {
    const server = await fakeServer('reset');
    const { pool, log } = makePool({
      host: '127.0.0.1',
      port: server.port,
      user: 'nobody',
      database: 'nothing',
      acquireTimeoutMillis: 1_500,
    });

    const outcome = await settle(pool.acquire());

    expect(outcome.millis).toBeGreaterThanOrEqual(1_300);
    expect(outcome.millis).toBeLessThan(3_000);
    const err = rejection(outcome);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err).toMatchObject({ code: 'CONNECT_FAILED', name: 'ConnectError' });
    expect((err as ConnectError).cause).toBeInstanceOf(Error);
    // Paced: a handful of attempts, not a busy loop.
    expect(server.accepted).toBeGreaterThanOrEqual(2);
    expect(server.accepted).toBeLessThanOrEqual(20);
    expect(log.withEvent('pool.connectError').length).toBeGreaterThanOrEqual(2);
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0, created: 0 });

    // Nobody waits any more: the attempts stop.
    await sleep(100);
    const settledCount = server.accepted;
    await sleep(600);
    expect(server.accepted).toBeLessThanOrEqual(settledCount + 1);
  });

  it('retries a closed port and rejects with ConnectError (cause ECONNREFUSED) at the deadline', async () => {
    const port = await closedPort();
    const { pool } = makePool({
      host: '127.0.0.1',
      port,
      user: 'nobody',
      database: 'nothing',
      acquireTimeoutMillis: 800,
    });

    const outcome = await settle(pool.acquire(async () => 'never'));

    expect(outcome.millis).toBeGreaterThanOrEqual(650);
    expect(outcome.millis).toBeLessThan(2_500);
    const err = rejection(outcome) as ConnectError;
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.cause).toMatchObject({ code: 'ECONNREFUSED' });
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0 });
  });

  it('rejects at once with ConnectError (cause 3D000) for a database that does not exist', async () => {
    const app = appName('connfail-nodb');
    const { pool } = makePool({
      ...db.config,
      database: `${db.name}_missing`,
      application_name: app,
      acquireTimeoutMillis: 5_000,
    });

    const outcome = await settle(pool.acquire());

    expect(outcome.millis).toBeLessThan(1_000);
    const err = rejection(outcome) as ConnectError;
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.cause).toBeInstanceOf(pg.DatabaseError);
    expect(err.cause).toMatchObject({ code: '3D000' });

    // Concurrent callers are told at once too, not after the acquire timeout.
    const both = await Promise.all([settle(pool.acquire()), settle(pool.query('select 1'))]);
    for (const each of both) {
      expect(each.millis).toBeLessThan(1_000);
      expect(rejection(each)).toBeInstanceOf(ConnectError);
    }
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0, created: 0 });
  });

  it('rejects at once with ConnectError (cause 28P01) for a wrong password, where the server asks for one', async (ctx) => {
    // Where pg_hba.conf trusts every local connection (a developer's server), no password is ever wrong:
    // find out with a plain pg.Client first. The missing-database test above covers "fails at once" there.
    const probe = new pg.Client({ ...db.config, user: role, password: 'wrong' });
    const probeError = await probe.connect().then(
      () => undefined,
      (err: unknown) => err,
    );
    await probe.end().catch(() => {
      // The probe may never have connected.
    });
    if (probeError === undefined) {
      console.log('wrong-password test not run here: the server accepts any password (trust authentication)');
      ctx.skip();
      return;
    }
    expect(probeError).toMatchObject({ code: '28P01' });

    const { pool, log } = makePool({
      ...db.config,
      user: role,
      password: 'wrong-password-x1',
      acquireTimeoutMillis: 5_000,
    });
    const outcome = await settle(pool.acquire());

    expect(outcome.millis).toBeLessThan(1_000);
    const err = rejection(outcome) as ConnectError;
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.cause).toMatchObject({ code: '28P01' });
    expect(err.message).not.toContain('wrong-password-x1');
    expect(JSON.stringify(log.lines)).not.toContain('wrong-password-x1');

    // The right password works.
    const { pool: good } = makePool({ ...db.config, user: role, password: rolePassword });
    await expect(good.query<{ who: string }>('select current_user as who')).resolves.toMatchObject({
      rows: [{ who: role }],
    });
  });

  it('gives up on a server that accepts TCP but never answers, and closes its sockets on close()', async () => {
    const server = await fakeServer('silent');
    const { pool } = makePool({
      host: '127.0.0.1',
      port: server.port,
      user: 'nobody',
      database: 'nothing',
      connectTimeoutMillis: 300,
      acquireTimeoutMillis: 1_000,
    });

    const outcome = await settle(pool.acquire());

    expect(outcome.millis).toBeGreaterThanOrEqual(250);
    expect(outcome.millis).toBeLessThan(2_000);
    const err = rejection(outcome) as ConnectError;
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.cause).toBeInstanceOf(Error);
    expect(server.accepted).toBeGreaterThanOrEqual(1);
    expect(server.accepted).toBeLessThanOrEqual(10);

    await pool.close({ timeoutMillis: 500 });
    const open = await pollUntil(
      () => server.open,
      (n) => n === 0,
      2_000,
    );
    expect(open).toBe(0);
  });

  it('close() during a connection attempt rejects the waiter with PoolClosedError and leaves no socket open', async () => {
    const server = await fakeServer('silent');
    const { pool } = makePool({
      host: '127.0.0.1',
      port: server.port,
      user: 'nobody',
      database: 'nothing',
      connectTimeoutMillis: 5_000,
      acquireTimeoutMillis: 5_000,
    });

    const waiting = settle(pool.acquire());
    await pollUntil(
      () => server.accepted,
      (n) => n === 1,
    );
    const closing = settle(pool.close({ timeoutMillis: 500 }));
    const outcome = await waiting;

    expect(outcome.millis).toBeLessThan(1_500);
    expect(rejection(outcome)).toMatchObject({ code: 'POOL_CLOSED' });
    const closed = await closing;
    expect(closed.ok).toBe(true);
    expect(closed.millis).toBeLessThan(2_000);
    expect(
      await pollUntil(
        () => server.open,
        (n) => n === 0,
        2_000,
      ),
    ).toBe(0);
  });

  it('a connection that finishes opening after its caller gave up goes into the pool, not astray', async () => {
    const app = appName('connfail-late');
    const { pool } = makePool({
      ...db.config,
      application_name: app,
      max: 1,
      acquireTimeoutMillis: 150,
      connectTimeoutMillis: 5_000,
      onConnect: () => sleep(600),
    });

    const outcome = await settle(pool.acquire());
    // The caller gave up (the connection was not lost, only slow), ...
    expect(outcome.millis).toBeLessThan(1_000);
    expect(rejection(outcome)).toBeInstanceOf(PoolExhaustedError);
    expect(rejection(outcome)).toMatchObject({ reason: 'timeout' });

    // ... the connection finished anyway and is kept idle: exactly one session, no leak.
    const idle = await pollUntil(
      () => pool.stats().idle,
      (n) => n === 1,
    );
    expect(idle).toBe(1);
    expect(await countConnections(db.name, app)).toBe(1);
    const next = await settle(pool.query<{ n: number }>('select 1 as n'));
    expect(next.ok).toBe(true);
    expect(next.millis).toBeLessThan(100);
    expect(pool.stats()).toMatchObject({ created: 1, borrowed: 0 });

    await pool.close();
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
  });

  it('a connect timeout beyond the range of a JavaScript timer does not fail every attempt', async () => {
    // 2^31 ms overflows setTimeout, which then fires after 1 ms.
    const { pool } = makePool({ ...db.config, connectTimeoutMillis: 2 ** 31, acquireTimeoutMillis: 3_000 });
    await expect(pool.query<{ n: number }>('select 1 as n')).resolves.toMatchObject({ rows: [{ n: 1 }] });
  });
});
