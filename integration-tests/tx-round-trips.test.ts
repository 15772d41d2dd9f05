import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { poolFor, startTcpProxy, type TcpProxy } from './support/tx-support.js';

/** Delay the proxy adds to every server→client chunk: one round trip costs at least this. */
const DELAY_MILLIS = 40;
/** Statements per transaction. */
const K = 3;
const REPEATS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Median wall time of `run`, in round trips (wall time / delay). */
async function roundTrips(run: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return median(times) / DELAY_MILLIS;
}

describe('round trips per transaction', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let pool: Pool;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id serial primary key, v int not null)');
    proxy = await startTcpProxy(db.config);
    const viaProxy = { ...db.config, port: proxy.port };
    pool = poolFor(db, { ...viaProxy, connectionString: undefined, max: 1 });
    client = new pg.Client(viaProxy);
    await client.connect();
    // Open the pool's connection before measuring.
    await pool.transaction((tx) => tx.query('select 1'));
    proxy.delayMillis = DELAY_MILLIS;
  });

  afterAll(async () => {
    await client?.end();
    await pool?.close();
    await proxy?.close();
    await db?.drop();
  });

  it(`a transaction of ${K} statements costs at most ${K + 1} round trips (BEGIN travels with the first)`, async () => {
    const library = await roundTrips(() =>
      pool.transaction(async (tx) => {
        for (let i = 0; i < K; i++) await tx.query('insert into items (v) values ($1)', [i]);
      }),
    );
    const handWritten = await roundTrips(async () => {
      await client.query('BEGIN');
      for (let i = 0; i < K; i++) await client.query('insert into items (v) values ($1)', [i]);
      await client.query('COMMIT');
    });
    console.log(
      `round trips for a transaction of ${K} statements (${DELAY_MILLIS} ms per trip): ` +
        `pg-scope ${library.toFixed(2)}, hand-written pg.Client BEGIN/${K}/COMMIT ${handWritten.toFixed(2)}`,
    );
    // Sanity: the measurement sees BEGIN + K + COMMIT for the hand-written one.
    expect(handWritten).toBeGreaterThan(K + 1.8);
    expect(handWritten).toBeLessThan(K + 2.8);
    expect(library).toBeGreaterThan(K + 0.8);
    expect(library).toBeLessThan(K + 1.8);
  });

  it('the await using form costs the same', async () => {
    const library = await roundTrips(async () => {
      await using tx = await pool.transaction();
      for (let i = 0; i < K; i++) await tx.query('insert into items (v) values ($1)', [i]);
      await tx.commit();
    });
    console.log(`round trips, await using form: pg-scope ${library.toFixed(2)}`);
    expect(library).toBeGreaterThan(K + 0.8);
    expect(library).toBeLessThan(K + 1.8);
  });

  it('transaction-local settings travel in the same round trip as BEGIN', async () => {
    const library = await roundTrips(() =>
      pool.transaction(
        async (tx) => {
          for (let i = 0; i < K; i++) await tx.query('insert into items (v) values ($1)', [i]);
        },
        { isolation: 'repeatable read', settings: { 'app.tenant_id': '42' } },
      ),
    );
    console.log(`round trips with isolation and settings: pg-scope ${library.toFixed(2)}`);
    expect(library).toBeGreaterThan(K + 0.8);
    expect(library).toBeLessThan(K + 1.8);
  });

  it('a transaction that sends nothing costs no round trip', async () => {
    const writesBefore = proxy.clientWrites;
    const trips = await roundTrips(() => pool.transaction(async () => 'nothing to do'));
    expect(trips).toBeLessThan(0.5);
    expect(proxy.clientWrites).toBe(writesBefore);
  });
});
