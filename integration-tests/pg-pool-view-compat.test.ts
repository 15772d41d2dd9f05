import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, ScopeClosedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs, Level } from './setup/log-capture.js';

/** The view's client as pg.Pool tools see it, with the extras pg.PoolClient has. */
type Client = pg.PoolClient & { tag?: string; fromOnConnect?: string; processID: number };

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = join(root, 'integration-tests', 'fixtures');

/** Runs a script with Node (the version running the tests) and parses the JSON line it prints. */
function runNode(args: string[], env: Record<string, string>): Record<string, unknown> {
  const run = spawnSync(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env, PG_SCOPE_LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) throw new Error(`no report (exit ${run.status}): ${run.stderr}`);
  return JSON.parse(line) as Record<string, unknown>;
}

describe('pool.pgPool() driven the way pg-pool’s own tests drive pg.Pool', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('events: connect once per new connection, acquire and release per checkout, remove per connection closed', async () => {
    const pool = createPool({ ...db.config, max: 2 });
    const view = pool.pgPool();
    const counts = { connect: 0, acquire: 0, release: 0, remove: 0 };
    const connected: pg.Client[] = [];
    view.on('connect', (client: pg.Client) => {
      counts.connect++;
      connected.push(client);
    });
    view.on('acquire', () => counts.acquire++);
    view.on('release', (err: unknown, client: unknown) => {
      expect(err).toBeUndefined();
      expect(client).toBeDefined();
      counts.release++;
    });
    view.on('remove', () => counts.remove++);
    await Promise.all(Array.from({ length: 10 }, (_, i) => view.query('select $1::int as i', [i])));
    const client = (await view.connect()) as Client;
    client.release();
    expect(counts.acquire).toBe(11);
    expect(counts.release).toBe(11);
    expect(counts.connect).toBe(pool.stats().created);
    expect(counts.connect).toBeGreaterThanOrEqual(1);
    expect(counts.connect).toBeLessThanOrEqual(2);
    expect(new Set(connected).size).toBe(counts.connect);
    await view.end();
    expect(counts.remove).toBe(counts.connect);
  });

  it('the checked-out client: processID, escaping, properties set on connect, loud failure after release', async () => {
    const pool = createPool({
      ...db.config,
      max: 1,
      onConnect: (c) => {
        (c as pg.Client & { fromOnConnect?: string }).fromOnConnect = 'set in onConnect';
      },
    });
    const view = pool.pgPool();
    view.on('connect', (c: pg.Client & { tag?: string }) => {
      c.tag = 'set in a connect listener';
    });
    const client = (await view.connect()) as Client;
    const pid = (await client.query('select pg_backend_pid() as pid')).rows[0]?.pid;
    expect(client.processID).toBe(pid);
    expect(client.escapeIdentifier('we"ird')).toBe('"we""ird"');
    expect(client.escapeLiteral("it's")).toBe("'it''s'");
    expect(client.fromOnConnect).toBe('set in onConnect');
    expect(client.tag).toBe('set in a connect listener');
    // pg.Client's own fields (the password among them) are not reached through the view.
    expect((client as unknown as { password?: unknown }).password).toBeUndefined();
    client.release();
    await expect(client.query('select 1')).rejects.toBeInstanceOf(ScopeClosedError);
    expect(() => client.processID).toThrow(ScopeClosedError);
    expect(() => client.release()).toThrow(/already been released/);
    // The same connection next time: its properties are still there.
    const again = (await view.connect()) as Client;
    expect(again.processID).toBe(pid);
    expect(again.tag).toBe('set in a connect listener');
    again.release();
    await view.end();
  });

  it('LISTEN/NOTIFY through a checked-out client', async () => {
    const pool = createPool({ ...db.config, max: 1 });
    const view = pool.pgPool();
    const client = (await view.connect()) as Client;
    const received = new Promise<pg.Notification>((resolve) => client.on('notification', resolve));
    await client.query('LISTEN view_channel');
    await db.admin("select pg_notify('view_channel', 'hello')");
    const msg = await received;
    expect(msg.channel).toBe('view_channel');
    expect(msg.payload).toBe('hello');
    await client.query('UNLISTEN view_channel');
    client.release();
    await view.end();
  });

  it('callback forms: err is undefined on success; a throwing callback is an uncaught exception, called once', () => {
    const seen = runNode(['--import', 'tsx', join(fixtures, 'throwing-callback.mjs')], {
      DATABASE_URL: db.url,
    });
    expect(seen).toEqual({
      calls: 2,
      errArgs: ['undefined', 'undefined'],
      uncaught: expect.arrayContaining(['thrown by the query callback', 'thrown by the connect callback']),
      unhandledRejections: 0,
    });
  });

  it('end(): work queued before it runs; a second end() rejects; later use rejects', async () => {
    const pool = createPool({ ...db.config, max: 1 });
    const view = pool.pgPool();
    const queued = Array.from({ length: 5 }, (_, i) =>
      view.query('select $1::int as i, pg_sleep(0.01)', [i]),
    );
    const ended = view.end();
    expect(view.ending).toBe(true);
    const rows = await Promise.all(queued);
    expect(rows.map((r) => r.rows[0]?.i)).toEqual([0, 1, 2, 3, 4]);
    await ended;
    expect(view.ended).toBe(true);
    await expect(view.end()).rejects.toThrow(/more than once/);
    await expect(view.query('select 1')).rejects.toThrow(/after calling end/);
    await expect(view.connect()).rejects.toThrow(/after calling end/);
  });

  it('counters: totalCount, idleCount, waitingCount (same tick as connect()), expiredCount', async () => {
    const pool = createPool({ ...db.config, max: 1 });
    const view = pool.pgPool();
    expect([view.totalCount, view.idleCount, view.waitingCount, view.expiredCount]).toEqual([0, 0, 0, 0]);
    const first = await view.connect();
    expect([view.totalCount, view.idleCount, view.waitingCount]).toEqual([1, 0, 0]);
    const second = view.connect();
    expect(view.waitingCount).toBe(1);
    const third = view.connect();
    expect(view.waitingCount).toBe(2);
    first.release();
    (await second).release();
    (await third).release();
    expect([view.totalCount, view.idleCount, view.waitingCount]).toEqual([1, 1, 0]);
    await view.end();
  });

  it('require("pg-scope") from a CommonJS file loads the built package', () => {
    const build = spawnSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    expect(build.status, build.stdout + build.stderr).toBe(0);
    const report = runNode([join(fixtures, 'require-pg-scope.cjs')], { DATABASE_URL: db.url });
    expect(report).toEqual({
      err: 'undefined',
      one: 1,
      createPool: 'function',
      errorClass: 'function',
      express: ['transactionPerRequest'],
      fastify: ['pgScopeFastify'],
    });
  });

  it('connection attempts aborted by close() are not logged as warnings', async () => {
    const logs = captureLogs('debug');
    const pool = createPool({ ...db.config, min: 3, max: 3, logger: logs.logger });
    await pool.close();
    const connectErrors = logs.events('pool.connectError');
    expect(connectErrors.filter((r) => r.level >= Level.warn)).toEqual([]);
  });
});
