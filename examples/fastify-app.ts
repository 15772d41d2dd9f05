/**
 * One transaction per HTTP request in Fastify 5, with the `pg-scope/fastify` plugin: the transaction opens on
 * the first query, commits in `onSend` (a failed COMMIT turns the reply into a 500), and rolls back when the
 * handler throws or answers with an error status. Run it: `npm run example fastify-app`.
 */
import Fastify from 'fastify';
import { pgScopeFastify } from '../src/adapters/fastify.js'; // in your project: from 'pg-scope/fastify'
import { createPool } from '../src/index.js'; // in your project: from 'pg-scope'

export async function main(connectionString: string) {
  await using pool = createPool({ connectionString, max: 5 });
  // A schema of the example's own, dropped again at the end: nothing is left behind in your database.
  await pool.query(`
    drop schema if exists fastify_example cascade;
    create schema fastify_example;
    create table fastify_example.visits (id serial primary key, page text not null);
  `);

  const app = Fastify();
  // Per route: read-only transactions for the report, none for the health check.
  await app.register(pgScopeFastify, {
    pool,
    transaction: (req) =>
      req.url === '/health' ? false : req.method === 'GET' ? { readOnly: true } : undefined,
  });
  app.post<{ Body: { page: string } }>('/visits', async (req, reply) => {
    await pool.query('insert into fastify_example.visits (page) values ($1)', [req.body.page]);
    if (req.body.page === 'admin') return reply.code(403).send({ error: 'forbidden' }); // rolled back
    return reply.code(201).send({ ok: true });
  });
  app.get('/visits', async () => {
    const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from fastify_example.visits');
    return { count: rows[0]?.n };
  });
  app.get('/health', async () => ({ borrowed: pool.stats().borrowed }));

  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const visit = (page: string) =>
      fetch(`${base}/visits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ page }),
      });
    const home = await visit('home');
    const admin = await visit('admin');
    const count = (await (await fetch(`${base}/visits`)).json()) as { count: number };
    const health = (await (await fetch(`${base}/health`)).json()) as { borrowed: number };
    console.log(`home -> ${home.status}, admin -> ${admin.status}, visits: ${count.count}`);
    return {
      home: home.status,
      admin: admin.status,
      count: count.count,
      borrowedDuringHealth: health.borrowed,
    };
  } finally {
    await app.close();
    await pool.query('drop schema fastify_example cascade');
  }
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
