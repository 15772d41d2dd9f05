/**
 * One transaction per HTTP request in Express 5: handlers just call `pool.query()` (or Kysely/Drizzle on
 * `pool.pgPool()`), and the middleware opens the transaction on the first query, commits it before the
 * response goes out, and rolls it back when the handler throws or answers with an error status. A GET that
 * never queries holds no connection. Run it: `npm run example express-app`.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { transactionPerRequest } from '../src/adapters/express.js'; // in your project: from 'pg-scope/express'
import { createPool } from '../src/index.js'; // in your project: from 'pg-scope'

export async function main(connectionString: string) {
  await using pool = createPool({ connectionString, max: 5 });
  // A schema of the example's own, dropped again at the end: nothing is left behind in your database.
  await pool.query(`
    drop schema if exists express_example cascade;
    create schema express_example;
    create table express_example.orders (id serial primary key, item text not null check (item <> ''));
  `);

  const app = express();
  app.use(express.json());
  // POST, PUT, PATCH and DELETE get a transaction; GET does not unless `transaction: (req) => true` says so.
  app.use(transactionPerRequest(pool));
  app.post('/orders', async (req, res) => {
    const { rows } = await pool.query<{ id: number }>(
      'insert into express_example.orders (item) values ($1) returning id',
      [req.body.item],
    );
    // Committed before this 201 reaches the client; if COMMIT failed, the client would get a 500 instead.
    res.status(201).json({ id: rows[0]?.id });
  });
  app.get('/orders/count', async (_req, res) => {
    const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from express_example.orders');
    res.json({ count: rows[0]?.n });
  });

  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const post = (item: string) =>
      fetch(`${base}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ item }),
      });
    const created = await post('coffee');
    const rejected = await post(''); // the CHECK constraint fails: Express answers 500, the transaction rolls back
    const count = (await (await fetch(`${base}/orders/count`)).json()) as { count: number };
    console.log(`POST coffee -> ${created.status}, POST '' -> ${rejected.status}, orders: ${count.count}`);
    return { created: created.status, rejected: rejected.status, count: count.count };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await pool.query('drop schema express_example cascade');
  }
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
