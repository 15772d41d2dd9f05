import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryWithAhead, type StatementAhead } from '../src/pool/pg-queries.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { startTcpProxy, type TcpProxy } from './support/tx-support.js';

/** What one statement written ahead answered: its value, or its error. */
interface Answer {
  value?: string | null;
  err?: Error & { code?: string };
}

/** Runs `text` with `values` and the statements `ahead` of it in its Sync; resolves with all the answers. */
function run(
  client: pg.Client,
  ahead: readonly string[],
  text: string | pg.QueryConfig,
  values: unknown[] | undefined,
): Promise<{ ahead: Answer[]; result?: pg.QueryResult; err?: Error & { code?: string } }> {
  return new Promise((resolve) => {
    const answers: Answer[] = [];
    const statements: StatementAhead[] = ahead.map((t, i) => ({
      text: t,
      done: (err, value) => {
        if (answers[i] !== undefined) throw new Error(`statement ahead ${i} answered twice`);
        answers[i] = err ? { err } : { value };
      },
    }));
    queryWithAhead(client, statements, text, values, (err, result: pg.QueryResult) => {
      // pg may call back a second time after a failure it reported while writing: the first call counts.
      resolve(err ? { ahead: answers, err } : { ahead: answers, result });
    });
  });
}

/**
 * `queryWithAhead` (how BEGIN and the transaction-id statement share a statement's Sync) writes its own
 * messages through pg's Connection and takes the answers of the statements ahead out of pg's Query handlers:
 * this fails if a pg upgrade changes either.
 */
describe('statements written ahead of a query, in its Sync', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let proxy: TcpProxy;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table ahead_items (v int not null)');
    proxy = await startTcpProxy(db.config);
    client = new pg.Client({ ...db.config, port: proxy.port });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await proxy?.close();
    await db?.drop();
  });

  it('each statement ahead gets its first value, the query its own result, all in one Sync', async () => {
    const syncs = proxy.clientMessages('S');
    const queries = proxy.clientMessages('Q');
    const answered = await run(
      client,
      [
        'select 42 as v, 7 as w',
        'select null::text',
        'select 1 where false',
        "select 'x' from generate_series(1, 3)",
      ],
      'select $1::int + 1 as n',
      [1],
    );
    expect(answered.err).toBeUndefined();
    expect(answered.ahead).toEqual([{ value: '42' }, { value: null }, { value: null }, { value: 'x' }]);
    expect(answered.result?.rows).toEqual([{ n: 2 }]);
    expect(answered.result?.command).toBe('SELECT');
    expect(proxy.clientMessages('S') - syncs).toBe(1);
    expect(proxy.clientMessages('Q') - queries).toBe(0);
  });

  it('a statement ahead that fails: the server skips the rest, which fail with its error, and writes nothing', async () => {
    const answered = await run(
      client,
      ['select 1', 'select 1/0', 'select 2'],
      'insert into ahead_items (v) values ($1)',
      [1],
    );
    expect(answered.ahead[0]).toEqual({ value: '1' });
    expect(answered.ahead[1]?.err?.code).toBe('22012');
    expect(answered.ahead[2]?.err?.code).toBe('22012');
    expect(answered.err?.code).toBe('22012');
    const rows = await client.query('select count(*)::int as n from ahead_items');
    expect(rows.rows[0].n).toBe(0);
  });

  it('inside a transaction, BEGIN ahead: a failing statement ahead aborts it and the query never runs', async () => {
    const answered = await run(
      client,
      ['BEGIN', 'select 1/0'],
      'insert into ahead_items (v) values ($1)',
      [2],
    );
    expect(answered.ahead[0]).toEqual({ value: null });
    expect(answered.err?.code).toBe('22012');
    try {
      // The transaction BEGIN opened is still there, and aborted.
      await expect(client.query('select 1')).rejects.toMatchObject({ code: '25P02' });
    } finally {
      await client.query('ROLLBACK');
    }
    const rows = await client.query('select count(*)::int as n from ahead_items');
    expect(rows.rows[0].n).toBe(0);
  });

  it('a query without values carries them too, in the extended protocol: one Sync, no Query message', async () => {
    const syncs = proxy.clientMessages('S');
    const queries = proxy.clientMessages('Q');
    const parses = proxy.clientMessages('P');
    const answered = await run(
      client,
      ['select 8', 'select 9'],
      'select 3 as n, now() is not null as t;',
      undefined,
    );
    expect(answered.err).toBeUndefined();
    expect(answered.ahead).toEqual([{ value: '8' }, { value: '9' }]);
    expect(answered.result?.rows).toEqual([{ n: 3, t: true }]);
    expect(answered.result?.command).toBe('SELECT');
    expect(proxy.clientMessages('S') - syncs).toBe(1);
    expect(proxy.clientMessages('Q') - queries).toBe(0);
    expect(proxy.clientMessages('P') - parses).toBe(3);
  });

  it("a query without values keeps text results under the client's binary: true, as in the simple protocol", async () => {
    const binary = new pg.Client({ ...db.config, binary: true } as pg.ClientConfig);
    await binary.connect();
    try {
      const text = "select '2024-02-03'::date::text as d, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as u";
      const alone = await binary.query(text);
      const answered = await run(binary, ['select 1'], text, undefined);
      expect(answered.err).toBeUndefined();
      expect(answered.result?.rows).toEqual(alone.rows);
      expect(alone.rows[0].u).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    } finally {
      await binary.end();
    }
  });

  it('a query without values behind a failing statement ahead is skipped: nothing written', async () => {
    const answered = await run(client, ['select 1/0'], 'insert into ahead_items (v) values (5)', []);
    expect(answered.ahead[0]?.err?.code).toBe('22012');
    expect(answered.err?.code).toBe('22012');
    const rows = await client.query('select count(*)::int as n from ahead_items');
    expect(rows.rows[0].n).toBe(0);
  });

  it("the query's own failure is its own: the statements ahead were answered", async () => {
    const answered = await run(client, ['select 5'], 'select nope + $1', [1]);
    expect(answered.ahead).toEqual([{ value: '5' }]);
    expect(answered.err?.code).toBe('42703');
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });

  it('a value pg cannot serialise fails the query; the statements ahead still run and the client stays usable', async () => {
    const bad = {
      toPostgres() {
        throw new Error('cannot serialise this');
      },
    };
    const answered = await run(client, ['select 6'], 'select $1::text', [bad]);
    expect(answered.err?.message).toBe('cannot serialise this');
    // The server answers the statement ahead, then pg's own Sync after its Close.
    await expect.poll(() => answered.ahead[0], { timeout: 5000 }).toEqual({ value: '6' });
    expect((await client.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
  });

  it('the connection lost under them: every statement ahead and the query fail', async () => {
    const other = new pg.Client(db.config);
    // The terminated connection's own error event: expected here.
    other.on('error', () => undefined);
    await other.connect();
    try {
      const pid = (await other.query('select pg_backend_pid() as pid')).rows[0].pid as number;
      const pending = run(other, ['select 1', 'select pg_sleep(30)'], 'select $1::int', [1]);
      // Once the sleep ahead of the query runs (it shows in pg_stat_activity), its backend is terminated.
      await expect
        .poll(
          async () =>
            (
              await db.admin(
                "select pg_terminate_backend(pid) as t from pg_stat_activity where pid = $1 and query like '%pg_sleep%'",
                [pid],
              )
            ).rowCount,
          { timeout: 10_000, interval: 20 },
        )
        .toBe(1);
      const answered = await pending;
      expect(answered.ahead[0]).toEqual({ value: '1' });
      expect(answered.ahead[1]?.err).toBeInstanceOf(Error);
      expect(answered.err).toBeInstanceOf(Error);
    } finally {
      await other.end().catch(() => undefined);
    }
  });

  it("a query's own query_timeout holds when it carries statements ahead", async () => {
    const other = new pg.Client(db.config);
    other.on('error', () => undefined);
    await other.connect();
    try {
      const started = performance.now();
      const answered = await run(
        other,
        ['select 1'],
        { text: 'select pg_sleep(5), $1::int', values: [1], query_timeout: 200 } as pg.QueryConfig,
        undefined,
      );
      expect(answered.err?.message).toBe('Query read timeout');
      expect(performance.now() - started).toBeLessThan(4_000);
      // The server flushes nothing before the Sync: the statement ahead had no answer yet, and fails with it.
      expect(answered.ahead[0]?.err?.message).toBe('Query read timeout');
    } finally {
      await other.end().catch(() => undefined);
    }
  });
});
