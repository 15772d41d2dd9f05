import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pgScopeFastify } from '../src/adapters/fastify.js';
import { createPool, type Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';

describe('Fastify plugin: a transaction per request', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
    await db.admin(
      'create table parents (id int primary key); create table children (id int primary key, ' +
        'parent int references parents deferrable initially deferred)',
    );
    pool = createPool({ ...db.config, application_name: 'fastify-mw', max: 5, acquireTimeoutMillis: 20_000 });
    app = Fastify();
    await app.register(pgScopeFastify, { pool });
    app.post<{ Params: { id: string } }>('/items/:id', async (req) => {
      await pool.query('insert into items values ($1)', [Number(req.params.id)]);
      return { ok: true, txBound: pool.current() !== undefined };
    });
    app.post<{ Params: { id: string } }>('/throws/:id', async (req) => {
      await pool.query('insert into items values ($1)', [Number(req.params.id)]);
      throw new Error('handler failed');
    });
    app.post<{ Params: { id: string } }>('/fails/:id', async (req, reply) => {
      await pool.query('insert into items values ($1)', [Number(req.params.id)]);
      return reply.code(409).send({ ok: false });
    });
    app.post('/dangling', async (_req, reply) => {
      await pool.query('insert into children values (1, 999)');
      return reply.code(201).send({ created: true });
    });
    app.get('/no-query', async () => ({ borrowed: pool.stats().borrowed }));
    app.post<{ Params: { id: string } }>('/concurrent/:id', async (req) => {
      await pool.query('insert into items values ($1)', [Number(req.params.id)]);
      await pool.query('select pg_sleep(0.01)');
      return { ok: true };
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate items, children, parents');
  });

  const ids = async () =>
    (await db.admin('select id from items order by id')).rows.map((r) => r.id as number);

  it('a handler that writes and answers 200: committed, and the handler ran inside the transaction', async () => {
    const res = await fetch(`${base}/items/1`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { txBound: boolean }).txBound).toBe(true);
    expect(await ids()).toEqual([1]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('a handler that throws: rolled back, 500', async () => {
    const res = await fetch(`${base}/throws/2`, { method: 'POST' });
    expect(res.status).toBe(500);
    expect(await ids()).toEqual([]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('a failure status (409): rolled back', async () => {
    const res = await fetch(`${base}/fails/3`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(await ids()).toEqual([]);
  });

  it('a deferred constraint failing at COMMIT: a 500 instead of the 201, nothing committed', async () => {
    const res = await fetch(`${base}/dangling`, { method: 'POST' });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { code?: string }).code).toBe('23503');
    expect((await db.admin('select count(*)::int as n from children')).rows[0].n).toBe(0);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('a GET that does not query holds no connection', async () => {
    const res = await fetch(`${base}/no-query`);
    expect(((await res.json()) as { borrowed: number }).borrowed).toBe(0);
  });

  it('200 concurrent requests on a pool of 5: all commit, borrowed back to 0', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => fetch(`${base}/concurrent/${100 + i}`, { method: 'POST' })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect((await ids()).length).toBe(200);
    expect(pool.stats().borrowed).toBe(0);
  });
});
