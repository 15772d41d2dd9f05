import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { transactionPerRequest } from '../src/adapters/express.js';
import { createPool, type Pool } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase } from './setup/db.js';

describe('Express middleware: a transaction per request', () => {
  let db: TestDatabase;
  let pool: Pool;
  let server: Server;
  let base: string;
  const app = 'express-mw';
  let releaseSlow: () => void = () => {};
  let slowStarted: Promise<void> = Promise.resolve();
  let markSlowStarted: () => void = () => {};

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
    await db.admin(
      'create table parents (id int primary key); create table children (id int primary key, ' +
        'parent int references parents deferrable initially deferred)',
    );
    pool = createPool({ ...db.config, application_name: app, max: 5, acquireTimeoutMillis: 20_000 });
    const web = express();
    web.use(express.json());
    web.use(transactionPerRequest(pool, { methods: ['POST', 'PUT', 'DELETE'] }));
    web.post('/items/:id', async (req, res) => {
      await pool.query('insert into items values ($1)', [Number(req.params.id)]);
      res.status(200).json({ ok: true });
    });
    web.post('/throws/:id', async (req) => {
      await pool.query('insert into items values ($1)', [Number(req.params.id)]);
      throw new Error('handler failed');
    });
    web.post('/fails/:id', async (req, res) => {
      await pool.query('insert into items values ($1)', [Number(req.params.id)]);
      res.status(500).json({ ok: false });
    });
    web.post('/dangling', async (_req, res) => {
      await pool.query('insert into children values (1, 999)');
      res.status(201).json({ created: true });
    });
    web.post('/slow/:id', async (req, res) => {
      await pool.query('insert into items values ($1)', [Number(req.params.id)]);
      markSlowStarted();
      await new Promise<void>((resolve) => {
        releaseSlow = resolve;
      });
      res.json({ ok: true });
    });
    web.get('/no-query', (_req, res) => {
      res.json({ borrowed: pool.stats().borrowed });
    });
    web.post('/concurrent/:id', async (req, res) => {
      await pool.query('insert into items values ($1)', [Number(req.params.id)]);
      await pool.query('select pg_sleep(0.01)');
      res.json({ ok: true });
    });
    server = web.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    releaseSlow();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate items, children, parents');
  });

  const ids = async () =>
    (await db.admin('select id from items order by id')).rows.map((r) => r.id as number);

  it('a handler that writes and answers 200: committed and visible when the client has the response', async () => {
    const res = await fetch(`${base}/items/1`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await ids()).toEqual([1]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('a handler that throws: rolled back, 500', async () => {
    const res = await fetch(`${base}/throws/2`, { method: 'POST' });
    expect(res.status).toBe(500);
    expect(await ids()).toEqual([]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('a handler that answers 500: rolled back', async () => {
    const res = await fetch(`${base}/fails/3`, { method: 'POST' });
    expect(res.status).toBe(500);
    expect(await ids()).toEqual([]);
  });

  it('a deferred constraint failing at COMMIT: the client gets a 5xx, never the 201, and nothing is committed', async () => {
    const res = await fetch(`${base}/dangling`, { method: 'POST' });
    expect(res.status).toBe(500);
    const body = (await res.json()) as { code?: string };
    expect(body.code).toBe('23503');
    expect((await db.admin('select count(*)::int as n from children')).rows[0].n).toBe(0);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('a client that disconnects mid-request: rolled back, connection released', async () => {
    slowStarted = new Promise<void>((resolve) => {
      markSlowStarted = resolve;
    });
    const req = httpRequest(`${base}/slow/4`, { method: 'POST' });
    req.on('error', () => {
      // The test aborts this request on purpose.
    });
    req.end();
    await slowStarted;
    expect(pool.stats().borrowed).toBe(1);
    req.destroy();
    const deadline = Date.now() + 5_000;
    while (pool.stats().borrowed !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(pool.stats().borrowed).toBe(0);
    releaseSlow();
    expect(await ids()).toEqual([]);
  });

  it('a GET that does not query holds no connection', async () => {
    const res = await fetch(`${base}/no-query`);
    expect(((await res.json()) as { borrowed: number }).borrowed).toBe(0);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('200 concurrent requests on a pool of 5: all settle, all commit, borrowed back to 0, never more than 5 connections', async () => {
    let maxSeen = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxSeen = Math.max(maxSeen, await countConnections(db.name, app));
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => fetch(`${base}/concurrent/${100 + i}`, { method: 'POST' })),
    );
    sampling = false;
    await sampler;
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect((await ids()).length).toBe(200);
    expect(pool.stats().borrowed).toBe(0);
    expect(maxSeen).toBeLessThanOrEqual(5);
  });
});
