import diagnostics_channel from 'node:diagnostics_channel';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelName, type Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { poolFor, startTcpProxy, type TcpProxy } from './support/tx-support.js';

/**
 * Delay the proxy adds to every server→client chunk, so that no answer can reach the client before its
 * pipelined writes are all out: round trips are then counted the same on a fast or a loaded machine.
 */
const DELAY_MILLIS = 40;
/** Statements per transaction. */
const K = 3;
const REPEATS = 5;

/** Round trips per run of `run`, counted at the proxy (see {@link TcpProxy.roundTrips}), over a few runs. */
async function roundTrips(proxy: TcpProxy, run: () => Promise<unknown>): Promise<number> {
  const before = proxy.roundTrips;
  for (let i = 0; i < REPEATS; i++) await run();
  return (proxy.roundTrips - before) / REPEATS;
}

describe('round trips per transaction', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let pool: Pool;
  let prepared: Pool;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id serial primary key, v int not null)');
    proxy = await startTcpProxy(db.config);
    const viaProxy = { ...db.config, port: proxy.port };
    pool = poolFor(db, { ...viaProxy, connectionString: undefined, max: 1 });
    prepared = poolFor(db, { ...viaProxy, connectionString: undefined, max: 1, prepare: true });
    client = new pg.Client(viaProxy);
    await client.connect();
    // Open the pool's connection before measuring.
    await pool.transaction((tx) => tx.query('select 1'));
    proxy.delayMillis = DELAY_MILLIS;
  });

  afterAll(async () => {
    await client?.end();
    await pool?.close();
    await prepared?.close();
    await proxy?.close();
    await db?.drop();
  });

  it(`a transaction of ${K} statements costs at most ${K + 1} round trips (BEGIN travels with the first)`, async () => {
    const library = await roundTrips(proxy, () =>
      pool.transaction(async (tx) => {
        for (let i = 0; i < K; i++) await tx.query('insert into items (v) values ($1)', [i]);
      }),
    );
    const handWritten = await roundTrips(proxy, async () => {
      await client.query('BEGIN');
      for (let i = 0; i < K; i++) await client.query('insert into items (v) values ($1)', [i]);
      await client.query('COMMIT');
    });
    console.log(
      `round trips for a transaction of ${K} statements, counted at the proxy: ` +
        `pg-scope ${library.toFixed(2)}, hand-written pg.Client BEGIN/${K}/COMMIT ${handWritten.toFixed(2)}`,
    );
    // Sanity: the measurement sees BEGIN + K + COMMIT for the hand-written one.
    expect(handWritten).toBe(K + 2);
    expect(library).toBe(K + 1);
  });

  it(`the server answers a warm writing transaction of ${K} statements with ${K + 1} ReadyForQuery (BEGIN and the transaction id share a statement's Sync)`, async () => {
    const syncs = proxy.clientMessages('S');
    const queries = proxy.clientMessages('Q');
    await roundTrips(proxy, () =>
      pool.transaction(async (tx) => {
        for (let i = 0; i < K; i++) await tx.query('insert into items (v) values ($1)', [i]);
      }),
    );
    // Each Sync and each simple Query is answered with one ReadyForQuery, flushed on its own: K statements'
    // Syncs (BEGIN and the id statement inside two of them) and COMMIT's Query.
    expect((proxy.clientMessages('S') - syncs) / REPEATS).toBe(K);
    expect((proxy.clientMessages('Q') - queries) / REPEATS).toBe(1);
  });

  it('a pg-scope:query subscriber changes nothing on the wire: the same Syncs and simple queries', async () => {
    const query = diagnostics_channel.tracingChannel(ChannelName.query);
    let started = 0;
    const onStart = (): void => {
      started++;
    };
    query.start.subscribe(onStart);
    try {
      const syncs = proxy.clientMessages('S');
      const queries = proxy.clientMessages('Q');
      const trips = await roundTrips(proxy, () =>
        pool.transaction(async (tx) => {
          for (let i = 0; i < K; i++) await tx.query('insert into items (v) values ($1)', [i]);
        }),
      );
      expect(trips).toBe(K + 1);
      expect((proxy.clientMessages('S') - syncs) / REPEATS).toBe(K);
      expect((proxy.clientMessages('Q') - queries) / REPEATS).toBe(1);
      // BEGIN, K statements, the id statement and COMMIT, each published.
      expect(started).toBe(REPEATS * (K + 3));
    } finally {
      query.start.unsubscribe(onStart);
    }
  });

  it('statements without parameters carry BEGIN and the transaction id the same way (K + 1 ReadyForQuery)', async () => {
    const syncs = proxy.clientMessages('S');
    const queries = proxy.clientMessages('Q');
    const trips = await roundTrips(proxy, () =>
      pool.transaction(async (tx) => {
        for (let i = 0; i < K; i++) await tx.query(`insert into items (v) values (${i})`);
      }),
    );
    expect(trips).toBe(K + 1);
    // The first statement carries BEGIN and the second the id, each in a Sync of its own (extended protocol);
    // the third and COMMIT are simple queries: as many ReadyForQuery as with parameters.
    expect((proxy.clientMessages('S') - syncs) / REPEATS).toBe(2);
    expect((proxy.clientMessages('Q') - queries) / REPEATS).toBe(K - 1);
  });

  it('a first statement of several statements in one text keeps the simple protocol, BEGIN a query of its own', async () => {
    const queries = proxy.clientMessages('Q');
    const before = await db.admin('select count(*)::int as n from items');
    await roundTrips(proxy, () =>
      pool.transaction(async (tx) => {
        await tx.query('insert into items (v) values (100); insert into items (v) values (101)');
      }),
    );
    // BEGIN, the two-statement text, COMMIT: simple queries each (the id is asked in COMMIT's flight).
    expect((proxy.clientMessages('Q') - queries) / REPEATS).toBeGreaterThanOrEqual(3);
    const after = await db.admin('select count(*)::int as n from items');
    expect(after.rows[0].n - before.rows[0].n).toBe(2 * REPEATS);
  });

  it('a plain COPY … FROM STDIN as the first statement fails at once (simple protocol), the pool stays usable', async () => {
    const started = performance.now();
    await expect(pool.transaction((tx) => tx.query('copy items (v) from stdin'))).rejects.toThrow();
    // With BEGIN carried in the extended protocol the server would wait for a Sync it ignores while copying.
    expect(performance.now() - started).toBeLessThan(5_000);
    const { rows } = await pool.query('select 1 as one');
    expect(rows).toEqual([{ one: 1 }]);
  });

  it('with prepare: true, a warm writing transaction: no Parse and the same round trips', async () => {
    const transfer = () =>
      prepared.transaction(async (tx) => {
        for (let i = 0; i < K; i++) await tx.query('insert into items (v) values ($1)', [i]);
      });
    await transfer();
    const syncs = proxy.clientMessages('S');
    const queries = proxy.clientMessages('Q');
    const parses = proxy.clientMessages('P');
    const binds = proxy.clientMessages('B');
    expect(await roundTrips(proxy, transfer)).toBe(K + 1);
    // The cached statements' Syncs, carrying BEGIN and the transaction id as named statements of the
    // connection (bound only); COMMIT the one simple query.
    expect((proxy.clientMessages('S') - syncs) / REPEATS).toBe(K);
    expect((proxy.clientMessages('Q') - queries) / REPEATS).toBe(1);
    expect((proxy.clientMessages('P') - parses) / REPEATS).toBe(0);
    expect((proxy.clientMessages('B') - binds) / REPEATS).toBe(K + 2);
  });

  it('the await using form costs the same', async () => {
    const library = await roundTrips(proxy, async () => {
      await using tx = await pool.transaction();
      for (let i = 0; i < K; i++) await tx.query('insert into items (v) values ($1)', [i]);
      await tx.commit();
    });
    console.log(`round trips, await using form: pg-scope ${library.toFixed(2)}`);
    expect(library).toBe(K + 1);
  });

  it('transaction-local settings travel in the same round trip as BEGIN', async () => {
    const library = await roundTrips(proxy, () =>
      pool.transaction(
        async (tx) => {
          for (let i = 0; i < K; i++) await tx.query('insert into items (v) values ($1)', [i]);
        },
        { isolation: 'repeatable read', settings: { 'app.tenant_id': '42' } },
      ),
    );
    console.log(`round trips with isolation and settings: pg-scope ${library.toFixed(2)}`);
    expect(library).toBe(K + 1);
  });

  it('a transaction that sends nothing costs no round trip', async () => {
    const writesBefore = proxy.clientWrites;
    const trips = await roundTrips(proxy, () => pool.transaction(async () => 'nothing to do'));
    expect(trips).toBe(0);
    expect(proxy.clientWrites).toBe(writesBefore);
  });
});
