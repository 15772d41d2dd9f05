import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CommitUnknownError,
  ConfigError,
  ConnectError,
  createPool,
  NestedAcquireError,
  PoolClosedError,
  PoolExhaustedError,
  ScopeClosedError,
  TransactionRolledBackError,
  TransactionTimeoutError,
} from '../src/index.js';
import { closedPort } from './setup/closed-port.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs } from './setup/log-capture.js';

/** Every secret in this file starts with this, so one check finds any of them. */
const MARK = 'S3cr3tMark';
const hex = randomBytes(4).toString('hex');
/** The password of the role connected to through the connection string. */
const URL_PASSWORD = `${MARK}-url-${hex}`;
/** The password of the role connected to through `password`. */
const FIELD_PASSWORD = `${MARK}-field-${hex}`;

/** Everything a user could print about a value. */
function allForms(value: unknown): string {
  const parts = [
    JSON.stringify(value) ?? '',
    JSON.stringify({ value }),
    inspect(value, { depth: 10 }),
    inspect(value, { depth: 10, showHidden: true }),
    inspect({ value }, { depth: 10, showHidden: true, getters: true }),
  ];
  if (value instanceof Error) parts.push(value.message, String(value.stack));
  return parts.join('\n');
}

function expectClean(label: string, value: unknown): void {
  const text = allForms(value);
  expect(text.includes(MARK), `${label} shows a secret`).toBe(false);
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('no password or connection string in any serialisation of what the library hands out', () => {
  let db: TestDatabase;
  const urlRole = `pgscope_ser_u_${hex}`;
  const fieldRole = `pgscope_ser_f_${hex}`;
  let url: URL;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin(`create role ${urlRole} login password '${URL_PASSWORD}'`);
    await db.admin(`create role ${fieldRole} login password '${FIELD_PASSWORD}'`);
    await db.admin('create table items (id int primary key)');
    await db.admin(`grant select, insert on items to ${urlRole}, ${fieldRole}`);
    url = new URL(db.url);
    url.username = urlRole;
    url.password = URL_PASSWORD;
  });

  afterAll(async () => {
    if (!db) return;
    await db.admin(`drop owned by ${urlRole}`);
    await db.admin(`drop owned by ${fieldRole}`);
    await db.drop();
    const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await admin.connect();
    try {
      await admin.query(`drop role if exists ${urlRole}`);
      await admin.query(`drop role if exists ${fieldRole}`);
    } finally {
      await admin.end();
    }
  });

  it.each(['connection string', 'password field'])(
    'the pool, stats, connections, transactions, savepoints, the pgPool() view and its clients (%s)',
    async (via) => {
      const capture = captureLogs('trace');
      const pool = createPool({
        ...(via === 'connection string'
          ? // The field password is wrong on purpose: the URL's wins, and neither may show.
            { connectionString: url.href, password: FIELD_PASSWORD }
          : { ...db.config, user: fieldRole, password: FIELD_PASSWORD }),
        max: 2,
        logger: capture.logger,
      });
      const seen: Array<[string, unknown]> = [
        ['pool', pool],
        ['stats', pool.stats()],
      ];

      await pool.acquire(async (conn) => {
        seen.push(['connection', conn]);
        // pg's own Client: JSON and a default inspect are clean (its password is non-enumerable).
        expect(JSON.stringify(conn.client).includes(MARK)).toBe(false);
        expect(inspect(conn.client, { depth: 4 }).includes(MARK)).toBe(false);
        await conn.transaction(async (tx) => {
          seen.push(['transaction', tx]);
          await tx.query('insert into items values ($1)', [via === 'connection string' ? 1 : 2]);
          await tx.transaction(async (sp) => {
            seen.push(['savepoint', sp]);
          });
        });
      });
      {
        await using tx = await pool.transaction();
        await tx.query('select 1');
        seen.push(['await using transaction', tx]);
        await tx.commit();
        seen.push(['committed transaction', tx]);
      }
      {
        await using conn = await pool.acquire();
        seen.push(['await using connection', conn]);
      }

      const view = pool.pgPool();
      seen.push(['pgPool view', view]);
      const own = (await view.connect()) as unknown as pg.PoolClient;
      seen.push(['view client', own]);
      await own.query('select 1');
      own.release();
      await pool.transaction(async () => {
        const joined = (await view.connect()) as unknown as pg.PoolClient;
        seen.push(['joined view client', joined]);
        joined.release();
      });
      seen.push(['pool after use', pool], ['stats after use', pool.stats()]);

      // A service that logs the pool (and the rest) with its own pino logger.
      const service = captureLogs('info');
      const lastTx = seen.find(([label]) => label === 'committed transaction')?.[1];
      service.logger.info({ pool, stats: pool.stats(), view, tx: lastTx }, 'pool state');
      pino({ level: 'info' }, { write: (line: string) => void service.lines.push(line) }).info(
        { context: { pool } },
        'nested',
      );
      expect(service.lines).toHaveLength(2);
      expect(service.records()[0]).toMatchObject({ pool: { name: 'pg-scope', closed: false } });

      await pool.close();
      seen.push(['closed pool', pool]);
      for (const [label, value] of seen) expectClean(label, value);
      expect(service.lines.join('\n').includes(MARK)).toBe(false);
      expect(capture.lines.join('\n').includes(MARK)).toBe(false);
      expect(capture.events('tx.commit').length).toBeGreaterThanOrEqual(2);
    },
  );

  it('every error class, including those with a pg error or a ConnectError as cause', async () => {
    const logs = captureLogs('trace');
    const errors: Array<[string, unknown]> = [];
    const pool = createPool({
      connectionString: url.href,
      password: FIELD_PASSWORD,
      max: 1,
      acquireTimeoutMillis: 0,
      nestedAcquire: 'error',
      logger: logs.logger,
    });

    errors.push([
      'ConfigError',
      (() => {
        try {
          createPool({ connectionString: url.href, password: FIELD_PASSWORD, max: 0 });
        } catch (err) {
          return err;
        }
      })(),
    ]);

    const held = await pool.acquire();
    const exhausted = await rejectionOf(pool.acquire({ timeoutMillis: 0 }));
    expect(exhausted).toBeInstanceOf(PoolExhaustedError);
    errors.push(['PoolExhaustedError', exhausted], ['its stats', (exhausted as PoolExhaustedError).stats]);
    await held.release();
    const scopeClosed = await rejectionOf(held.query('select 1'));
    expect(scopeClosed).toBeInstanceOf(ScopeClosedError);
    errors.push(['ScopeClosedError', scopeClosed]);

    const nested = await rejectionOf(pool.acquire(() => pool.acquire(async () => {})));
    expect(nested).toBeInstanceOf(NestedAcquireError);
    errors.push(['NestedAcquireError', nested]);

    const rolledBack = await rejectionOf(
      pool.transaction(async (tx) => {
        await tx.query('select * from no_such_table').catch(() => {});
      }),
    );
    expect(rolledBack).toBeInstanceOf(TransactionRolledBackError);
    expect((rolledBack as Error).cause).toBeInstanceOf(pg.DatabaseError);
    errors.push(['TransactionRolledBackError (cause: pg error)', rolledBack]);

    const timedOut = await rejectionOf(
      pool.transaction((tx) => tx.query('select pg_sleep(5)'), { timeoutMillis: 100 }),
    );
    expect(timedOut).toBeInstanceOf(TransactionTimeoutError);
    errors.push(['TransactionTimeoutError', timedOut]);

    // A connection lost mid-statement: what CommitUnknownError wraps when it happens during COMMIT.
    const lost = await rejectionOf(
      pool.acquire(async (conn) => {
        await conn.query('select pg_terminate_backend(pg_backend_pid())');
      }),
    );
    errors.push(['connection loss', lost], ['CommitUnknownError', new CommitUnknownError(lost)]);

    await pool.close();
    const closed = await rejectionOf(pool.acquire());
    expect(closed).toBeInstanceOf(PoolClosedError);
    errors.push(['PoolClosedError', closed]);

    // ConnectError: a missing database (a pg error as cause; the test server may trust every password), a
    // refused port, and a connection string pg cannot parse (Node's ERR_INVALID_URL, whose `input` holds the
    // whole string, as cause).
    const missing = new URL(url.href);
    missing.pathname = '/no_such_database_here';
    const refused = new URL(url.href);
    refused.port = String(await closedPort());
    const unparsable = `postgres://${urlRole}:${URL_PASSWORD}@127.0.0.1:notaport/x`;
    for (const [label, connectionString, acquireTimeoutMillis] of [
      ['missing database', missing.href, 5_000],
      ['refused', refused.href, 300],
      ['unparsable URL', unparsable, 5_000],
    ] as const) {
      const failing = createPool({
        connectionString,
        password: FIELD_PASSWORD,
        acquireTimeoutMillis,
        logger: logs.logger,
      });
      const err = await rejectionOf(failing.query('select 1'));
      await failing.close();
      expect(err, label).toBeInstanceOf(ConnectError);
      errors.push([`ConnectError (${label})`, err]);
      const exhaustedWithCause = new PoolExhaustedError('timeout', failing.stats(), 5, err);
      errors.push([`PoolExhaustedError (cause: ConnectError, ${label})`, exhaustedWithCause]);
    }
    const parseFailure = errors.find(([label]) => label === 'ConnectError (unparsable URL)')?.[1];
    // pg's parser already masks the string in the cause's `input`; a cause that holds a secret anywhere else
    // is covered by the unit tests of the error classes.
    expect((parseFailure as Error | undefined)?.cause).toMatchObject({ code: 'ERR_INVALID_URL' });

    expect(errors.map(([, err]) => err).filter((e) => e instanceof ConfigError)).toHaveLength(1);
    for (const [label, err] of errors) expectClean(label, err);
    // And through a service's own pino logger, with pino's standard error serializer.
    const service = captureLogs('info');
    for (const [label, err] of errors) service.logger.error({ err, label }, 'failed');
    expect(service.lines.join('\n').includes(MARK)).toBe(false);
    expect(logs.lines.join('\n').includes(MARK)).toBe(false);
    expect(logs.events('pool.connectError').length).toBeGreaterThanOrEqual(3);
  });
});
