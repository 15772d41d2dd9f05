import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool, type Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { type PgBouncer, pgbouncerMissing, startPgBouncer } from './support/pgbouncer.js';
import { appName, captureLog } from './support/pool-test-kit.js';

/**
 * `prepare: true` behind PgBouncer 1.18 in transaction mode, which does not keep named statements: a
 * statement prepared on one server connection is run on another (26000), or prepared where another client
 * already prepared the same text under the same name (42P05). Every query still answers correctly, and the
 * pool turns `prepare` off for itself with one `stmt.disabled` warn line.
 */

const missing = await pgbouncerMissing();
if (missing !== undefined) console.log(`skipping the PgBouncer statement-cache test: ${missing}`);

const CALLERS = 8;
const QUERIES = 200;

describe.skipIf(missing !== undefined)('prepare: true behind PgBouncer 1.18 (transaction mode)', () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  let pool: Pool;
  let txPool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    bouncer = await startPgBouncer(inject('pgAdminUrl'), { poolSize: 3 });
  });

  afterAll(async () => {
    await pool?.close({ timeoutMillis: 5_000 });
    await txPool?.close({ timeoutMillis: 5_000 });
    await bouncer?.stop();
    await db?.drop();
  });

  it(`${CALLERS} concurrent callers × ${QUERIES} parametrised queries all answer correctly; stmt.disabled once`, async () => {
    const log = captureLog('warn');
    pool = createPool({
      ...db.config,
      host: bouncer.host,
      port: bouncer.port,
      application_name: appName('stmt-bounced'),
      logger: log.logger,
      max: 5,
      prepare: true,
    });
    const wrong: string[] = [];
    await Promise.all(
      Array.from({ length: CALLERS }, async (_, caller) => {
        for (let i = 0; i < QUERIES; i++) {
          // A few texts shared by all callers (the same names on PgBouncer's shared server connections).
          const { rows } = await pool.query<{ caller: number; i: number; k: number }>(
            `select $1::int as caller, $2::int as i, ${i % 4} as k`,
            [caller, i],
          );
          const row = rows[0];
          if (row?.caller !== caller || row.i !== i || row.k !== i % 4) wrong.push(`${caller}/${i}`);
        }
      }),
    );
    expect(wrong).toEqual([]);
    const disabled = log.withEvent('stmt.disabled');
    expect(disabled).toHaveLength(1);
    expect(disabled[0]?.msg).toMatch(/prepare: false/);
    const stats = pool.stats().statements;
    console.log(
      `behind PgBouncer 1.18: ${JSON.stringify(stats)}, stmt.disabled: ${JSON.stringify(disabled[0])}`,
    );
    expect(stats?.enabled).toBe(false);
    expect(stats?.prepared).toBe(0);
    // Once off, queries are no longer counted as hits or misses.
    expect((stats?.hits ?? 0) + (stats?.misses ?? 0)).toBeLessThan(CALLERS * QUERIES);
    // Transactions run too, on unnamed statements now.
    const n = await pool.transaction(async (tx) => (await tx.query('select $1::int as n', [7])).rows[0]);
    expect(n).toEqual({ n: 7 });
  });

  it('transactions with retry: a statement lost inside one is retryable, and every transaction commits', async () => {
    const log = captureLog('warn');
    txPool = createPool({
      ...db.config,
      host: bouncer.host,
      port: bouncer.port,
      application_name: appName('stmt-bounced-tx'),
      logger: log.logger,
      max: 5,
      prepare: true,
    });
    await db.admin('create table if not exists tally (caller int, i int, primary key (caller, i))');
    let attempts = 0;
    await Promise.all(
      Array.from({ length: CALLERS }, async (_, caller) => {
        for (let i = 0; i < 25; i++) {
          await txPool.transaction(
            async (tx) => {
              attempts++;
              await tx.query('insert into tally values ($1, $2)', [caller, i]);
              await tx.query('select $1::int as caller, $2::int as i', [caller, i]);
            },
            { retry: { maxAttempts: 5, baseDelayMillis: 1 } },
          );
        }
      }),
    );
    const { rows } = await db.admin('select count(*)::int as n from tally');
    expect(rows[0]).toEqual({ n: CALLERS * 25 });
    expect(txPool.stats().commits).toBe(CALLERS * 25);
    expect(log.withEvent('stmt.disabled')).toHaveLength(1);
    console.log(
      `transactions behind PgBouncer 1.18: ${CALLERS * 25} committed in ${attempts} attempts; ` +
        `${JSON.stringify(txPool.stats().statements)}`,
    );
  });
});
