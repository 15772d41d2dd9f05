import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { countConnections, createTestDatabase, type TestDatabase } from './setup/db.js';

describe('integration test setup', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('provides a reachable server', () => {
    expect(['DATABASE_URL', 'testcontainers', 'embedded']).toContain(inject('pgServerKind'));
    expect(inject('pgServerVersion')).toBeGreaterThanOrEqual(130000);
  });

  it('creates a database that answers queries through its url and its config', async () => {
    const fromUrl = new pg.Client({ connectionString: db.url });
    await fromUrl.connect();
    try {
      const result = await fromUrl.query<{ one: number; db: string }>(
        'select 1 as one, current_database() as db',
      );
      expect(result.rows).toEqual([{ one: 1, db: db.name }]);
    } finally {
      await fromUrl.end();
    }

    const fromConfig = new pg.Client(db.config);
    await fromConfig.connect();
    try {
      const result = await fromConfig.query<{ db: string }>('select current_database() as db');
      expect(result.rows[0]?.db).toBe(db.name);
    } finally {
      await fromConfig.end();
    }
  });

  it('runs admin statements in the test database', async () => {
    await db.admin('create table t (id int primary key)');
    await db.admin('insert into t values ($1), ($2)', [1, 2]);
    const result = await db.admin('select count(*)::int as n from t');
    expect(result.rows[0]).toEqual({ n: 2 });
  });

  it('counts no connections to an unused database', async () => {
    const unused = await createTestDatabase();
    try {
      expect(await countConnections(unused.name)).toBe(0);
    } finally {
      await unused.drop();
    }
  });

  it('counts open connections, by application name too', async () => {
    const client = new pg.Client({ connectionString: db.url, application_name: 'smoke-counted' });
    await client.connect();
    try {
      expect(await countConnections(db.name, 'smoke-counted')).toBe(1);
      expect(await countConnections(db.name, 'someone-else')).toBe(0);
    } finally {
      await client.end();
    }
  });

  it('drops a database even while a session is connected to it', async () => {
    const doomed = await createTestDatabase();
    const client = new pg.Client({ connectionString: doomed.url });
    client.on('error', () => {
      // Expected: the drop terminates this session.
    });
    await client.connect();
    await doomed.drop();
    await doomed.drop();
    const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await admin.connect();
    try {
      const result = await admin.query('select 1 from pg_database where datname = $1', [doomed.name]);
      expect(result.rowCount).toBe(0);
    } finally {
      await admin.end();
      await client.end().catch(() => undefined);
    }
  });
});
