import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';

/** SPEC: every field of pg's ClientConfig, and parameters inside `connectionString`, reach the driver unchanged. */
describe('pg ClientConfig passes through to the server', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create schema custom_schema');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('parameters inside connectionString reach the server (application_name, options)', async () => {
    const url = new URL(db.url);
    url.searchParams.set('application_name', 'from-url');
    url.searchParams.set('options', '-c search_path=custom_schema');
    await using pool = createPool({ connectionString: url.toString(), max: 1 });
    const { rows } = await pool.query<{ app: string; path: string }>(
      "select current_setting('application_name') as app, current_setting('search_path') as path",
    );
    expect(rows[0]).toEqual({ app: 'from-url', path: 'custom_schema' });
    expect(await countConnections(db.name, 'from-url')).toBe(1);
  });

  it('ClientConfig fields reach pg.Client (application_name, keepAlive, statement_timeout, lock_timeout)', async () => {
    await using pool = createPool({
      ...db.config,
      application_name: 'fields-app',
      keepAlive: true,
      statement_timeout: 4321,
      lock_timeout: 1234,
      max: 1,
    });
    await pool.acquire(async (conn) => {
      const { rows } = await conn.query<{ app: string; st: string; lt: string }>(
        "select current_setting('application_name') as app, current_setting('statement_timeout') as st, " +
          "current_setting('lock_timeout') as lt",
      );
      expect(rows[0]).toEqual({ app: 'fields-app', st: '4321ms', lt: '1234ms' });
      expect(
        (conn.client as unknown as { connectionParameters: { keepalives: number } }).connectionParameters
          .keepalives,
      ).toBe(1);
    });
  });

  it('statementTimeoutMillis sets the session statement_timeout; await using closes the pool', async () => {
    {
      await using pool = createPool({
        ...db.config,
        application_name: 'disposed-app',
        statementTimeoutMillis: 2500,
      });
      const { rows } = await pool.query<{ st: string }>("select current_setting('statement_timeout') as st");
      expect(rows[0]?.st).toBe('2500ms');
      expect(await countConnections(db.name, 'disposed-app')).toBe(1);
    }
    expect(await waitForConnections(db.name, 0, { applicationName: 'disposed-app' })).toBe(0);
  });
});
