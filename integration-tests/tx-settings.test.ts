import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigError, createPool, type Pool, type Transaction } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { backendPid, poolFor } from './support/tx-support.js';

describe('transaction-local settings', () => {
  let db: TestDatabase;
  let pool: Pool;
  /** A role without superuser or BYPASSRLS: row-level security applies to it. */
  let reader: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Roles are cluster-wide: name it after this file's database.
    reader = `${db.name}_reader`;
    await db.admin(`create role ${reader} nologin nosuperuser nobypassrls`);
    await db.admin('create table docs (id int primary key, tenant text not null, body text not null)');
    await db.admin(
      `insert into docs values (1, '42', 'for 42'), (2, '42', 'also for 42'), (3, '7', 'for 7'), (4, '0', 'for 0')`,
    );
    await db.admin('alter table docs enable row level security');
    await db.admin(
      `create policy tenant_isolation on docs using (tenant = current_setting('app.tenant_id', true))`,
    );
    await db.admin(`grant select on docs to ${reader}`);
    await db.admin('create table x (id int)');
    pool = poolFor(db, { max: 1 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
    // The database, and with it everything granted to the role, is gone: the role can go too.
    if (reader) {
      const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
      await admin.connect();
      try {
        await admin.query(`drop role if exists ${reader}`);
      } finally {
        await admin.end();
      }
    }
  });

  async function setting(tx: Transaction | Pool, name: string): Promise<string | null> {
    const result = await tx.query<{ value: string | null }>('select current_setting($1, true) as value', [
      name,
    ]);
    return result.rows[0]?.value ?? null;
  }

  it('is visible as current_setting() inside the transaction', async () => {
    const seen = await pool.transaction((tx) => setting(tx, 'app.tenant_id'), {
      settings: { 'app.tenant_id': '42' },
    });
    expect(seen).toBe('42');

    await using tx = await pool.transaction({ settings: { 'app.tenant_id': '7', 'app.user': 'ann' } });
    expect(await setting(tx, 'app.tenant_id')).toBe('7');
    expect(await setting(tx, 'app.user')).toBe('ann');
  });

  it('a row-level-security policy that reads it filters the rows', async () => {
    const visibleTo = (tenant: string) =>
      pool.transaction(
        async (tx) => {
          await tx.query(`set local role ${reader}`);
          const result = await tx.query<{ id: number }>('select id from docs order by id');
          return result.rows.map((row) => row.id);
        },
        { settings: { 'app.tenant_id': tenant } },
      );
    expect(await visibleTo('42')).toEqual([1, 2]);
    expect(await visibleTo('7')).toEqual([3]);
    expect(await visibleTo('nobody')).toEqual([]);
    // Without the setting the policy sees null and lets nothing through.
    const withoutSetting = await pool.transaction(async (tx) => {
      await tx.query(`set local role ${reader}`);
      return (await tx.query('select id from docs')).rows;
    });
    expect(withoutSetting).toEqual([]);
  });

  it('is gone after the transaction for the next borrower of the same connection', async () => {
    const pid = await pool.transaction(
      async (tx) => {
        expect(await setting(tx, 'app.tenant_id')).toBe('42');
        return backendPid(tx);
      },
      { settings: { 'app.tenant_id': '42' } },
    );

    const after = await pool.acquire(async (conn) => {
      expect(await backendPid(conn)).toBe(pid);
      const result = await conn.query<{ value: string | null }>(
        "select current_setting('app.tenant_id', true) as value",
      );
      return result.rows[0]?.value ?? null;
    });
    expect(['', null]).toContain(after);

    const inNextTransaction = await pool.transaction(async (tx) => {
      expect(await backendPid(tx)).toBe(pid);
      return setting(tx, 'app.tenant_id');
    });
    expect(['', null]).toContain(inNextTransaction);
  });

  it('is gone after a rollback too', async () => {
    await expect(
      pool.transaction(
        async (tx) => {
          expect(await setting(tx, 'app.tenant_id')).toBe('13');
          throw new Error('roll back');
        },
        { settings: { 'app.tenant_id': '13' } },
      ),
    ).rejects.toThrow('roll back');
    const after = await pool.acquire((conn) =>
      conn.query<{ value: string | null }>("select current_setting('app.tenant_id', true) as value"),
    );
    expect(['', null]).toContain(after.rows[0]?.value ?? null);
  });

  it('sets real server settings locally, such as statement_timeout', async () => {
    await expect(
      pool.transaction((tx) => tx.query('select pg_sleep(2)'), { settings: { statement_timeout: '100ms' } }),
    ).rejects.toMatchObject({ code: '57014' });
    const after = await pool.acquire((conn) =>
      conn.query<{ statement_timeout: string }>('show statement_timeout'),
    );
    expect(after.rows[0]?.statement_timeout).toBe('0');
  });

  it('stores a value with SQL in it verbatim and runs none of it', async () => {
    const value = "'; drop table x; --";
    const nasty = `42'); drop table x; select ('`;
    const seen = await pool.transaction(
      async (tx) => [await setting(tx, 'app.tenant_id'), await setting(tx, 'app.other')],
      { settings: { 'app.tenant_id': value, 'app.other': nasty } },
    );
    expect(seen).toEqual([value, nasty]);
    const table = await db.admin("select to_regclass('public.x') as x");
    expect(table.rows[0]).toEqual({ x: 'x' });
  });

  it("a settings statement the server refuses: the caller sees the server's error, not 25P02", async () => {
    await db.admin('truncate x');
    // An unknown name (no dot, so not a custom setting) and a bad value.
    const cases: { settings: Record<string, string>; code: string; text: RegExp }[] = [
      { settings: { no_such_setting_here: '1' }, code: '42704', text: /no_such_setting_here/ },
      { settings: { statement_timeout: 'soon' }, code: '22023', text: /statement_timeout/ },
    ];
    for (const { settings, code, text } of cases) {
      const callback = await pool
        .transaction((tx) => tx.query('insert into x values (1)'), { settings })
        .catch((err: unknown) => err);
      expect(callback).toMatchObject({ code });
      expect((callback as Error).message).toMatch(text);

      {
        await using tx = await pool.transaction({ settings });
        const first = await tx.query('insert into x values (2)').catch((err: unknown) => err);
        expect(first).toMatchObject({ code });
        // Later statements and a savepoint say the same; COMMIT rolls back with it as the cause.
        await expect(tx.query('select 1')).rejects.toMatchObject({ code });
        await expect(tx.commit()).rejects.toMatchObject({ code: 'TX_ROLLED_BACK', cause: first });
      }

      {
        await using tx = await pool.transaction({ settings });
        await expect(tx.transaction()).rejects.toMatchObject({ code });
      }
    }
    expect((await db.admin('select count(*)::int as n from x')).rows[0]).toEqual({ n: 0 });
    expect(pool.stats().borrowed).toBe(0);
    // A statement that fails on its own still rejects with its own error.
    await expect(
      pool.transaction(async (tx) => {
        await tx.query('select 1/0').catch(() => undefined);
        await tx.query('select 1');
      }),
    ).rejects.toMatchObject({ code: '25P02' });
  });

  it("{ role } switches current_user for the transaction unless the pool's allowedSettings refuses it", async () => {
    const whoAmI = (p: Pool, settings: Record<string, string>) =>
      p.transaction(
        async (tx) =>
          (await tx.query<{ u: string; s: string }>('select current_user as u, session_user as s')).rows[0],
        { settings },
      );
    // Without the option: a legitimate pattern (row-level security per role), so allowed.
    const me = (await whoAmI(pool, {}))?.u;
    expect(me).not.toBe(reader);
    expect(await whoAmI(pool, { role: reader })).toEqual({ u: reader, s: me });
    expect(await whoAmI(pool, {})).toEqual({ u: me, s: me });

    const restricted = createPool({ ...db.config, max: 1, allowedSettings: ['app.'] });
    try {
      const refused: Record<string, string>[] = [
        { role: reader },
        { 'app.tenant_id': '42', ROLE: reader },
        { search_path: 'x' },
      ];
      for (const settings of refused) {
        const name = Object.keys(settings).at(-1);
        await expect(whoAmI(restricted, settings)).rejects.toMatchObject({
          code: 'INVALID_CONFIG',
          field: `settings.${name}`,
        });
        await expect(restricted.transaction({ settings })).rejects.toBeInstanceOf(ConfigError);
      }
      // Refused before anything was sent: no connection was even opened.
      expect(restricted.stats()).toMatchObject({ created: 0, acquired: 0 });
      await restricted.acquire(async (conn) => {
        await expect(conn.transaction({ settings: { role: reader } })).rejects.toMatchObject({
          field: 'settings.role',
        });
        await expect(
          conn.transaction(async () => undefined, { settings: { session_authorization: reader } }),
        ).rejects.toMatchObject({ field: 'settings.session_authorization' });
        expect(conn.client.getTransactionStatus()).toBe('I');
      });
      // A name the list allows still works, and the role stays the pool's.
      const seen = await restricted.transaction(
        async (tx) => [
          await setting(tx, 'app.tenant_id'),
          (await tx.query('select current_user as u')).rows[0],
        ],
        { settings: { 'app.tenant_id': '7' } },
      );
      expect(seen).toEqual(['7', { u: me }]);
    } finally {
      await restricted.close();
    }
  });
});
