import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main as drizzleExample } from '../examples/drizzle.js';
import { main as expressApp } from '../examples/express-app.js';
import { main as fastifyApp } from '../examples/fastify-app.js';
import { main as kyselyExample } from '../examples/kysely.js';
import { createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';

/** The framework and ORM examples, each in a database of its own, leaving no connection behind. */
describe('examples/ for frameworks and ORMs', () => {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await db?.drop();
  });

  /** Nothing left behind in the database the example was given, so a second run starts from scratch. */
  async function expectNoSchema(schema: string): Promise<void> {
    const { rows } = await db.admin('select count(*)::int as n from pg_namespace where nspname = $1', [
      schema,
    ]);
    expect(rows[0]).toEqual({ n: 0 });
  }

  it('express-app: 201 committed, a failing insert answers 500 and rolls back', async () => {
    await expect(expressApp(db.url)).resolves.toEqual({ created: 201, rejected: 500, count: 1 });
    expect(await waitForConnections(db.name, 0)).toBe(0);
    await expectNoSchema('express_example');
    await expect(expressApp(db.url)).resolves.toEqual({ created: 201, rejected: 500, count: 1 });
  });

  it('fastify-app: 201 committed, 403 rolled back, the health check holds no connection', async () => {
    const expected = {
      home: 201,
      admin: 403,
      count: 1,
      borrowedDuringHealth: 0,
    };
    await expect(fastifyApp(db.url)).resolves.toEqual(expected);
    expect(await waitForConnections(db.name, 0)).toBe(0);
    await expectNoSchema('fastify_example');
    await expect(fastifyApp(db.url)).resolves.toEqual(expected);
  });

  it('kysely: Kysely sees the ambient transaction’s write, and it rolls back with it', async () => {
    await expect(kyselyExample(db.url)).resolves.toEqual({ seenInside: ['Ada', 'Grace'], after: ['Ada'] });
    expect(await waitForConnections(db.name, 0)).toBe(0);
    await expectNoSchema('kysely_example');
    await expect(kyselyExample(db.url)).resolves.toEqual({ seenInside: ['Ada', 'Grace'], after: ['Ada'] });
  });

  it('drizzle: queries, its own transaction, and one inside pool.transaction()', async () => {
    const expected = {
      titles: ['SICP, 2nd ed.', 'TAOCP'],
      borrowed: 0,
    };
    await expect(drizzleExample(db.url)).resolves.toEqual(expected);
    expect(await waitForConnections(db.name, 0)).toBe(0);
    await expectNoSchema('drizzle_example');
    await expect(drizzleExample(db.url)).resolves.toEqual(expected);
  });
});
