import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigError, ConnectError, createPool, PoolExhaustedError } from '../src/index.js';
import { closedPort } from './setup/closed-port.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs } from './setup/log-capture.js';

/** The password of this file's role: it must never be printed. */
const MARKER = 'S3cr3t-MARKER-xyz';
/** Values a caller passes to queries and transaction settings: never logged either. */
const PARAM_VALUE = 'PARAM-VALUE-4711';
const SETTING_VALUE = 'TENANT-VALUE-0815';

/** Everything a user could print about an object: `inspect` deep, with hidden properties, and its message. */
function everythingAbout(value: unknown): string {
  const parts = [inspect(value, { depth: 8 }), inspect(value, { depth: 8, showHidden: true })];
  for (let e: unknown = value; e instanceof Error; e = e.cause) {
    parts.push(e.message, String(e.stack), inspect(e.cause, { depth: 8 }));
  }
  return parts.join('\n');
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(MARKER);
  expect(text).not.toContain('S3cr3t');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('no password, connection string or parameter value in logs, errors or inspect output', () => {
  let db: TestDatabase;
  const role = `pgscope_redact_${randomBytes(4).toString('hex')}`;
  /** This file's database as `role`, with the marker as the password. */
  let url: URL;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin(`create role ${role} login password '${MARKER}'`);
    await db.admin(
      'create table items (id int not null, constraint items_id_key unique (id) deferrable initially deferred)',
    );
    await db.admin(`grant select, insert on items to ${role}`);
    url = new URL(db.url);
    url.username = role;
    url.password = MARKER;
  });

  afterAll(async () => {
    if (!db) return;
    await db.admin(`drop owned by ${role}`);
    await db.drop();
    // Roles belong to the cluster, not to the database: drop it through the admin connection.
    const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await admin.connect();
    try {
      await admin.query(`drop role if exists ${role}`);
    } finally {
      await admin.end();
    }
  });

  it('across connect, queries, commit failure, exhaustion, leak, connect failure and bad config', async () => {
    const capture = captureLogs('trace');
    const printed: string[] = [];

    const pool = createPool({
      connectionString: url.href,
      password: MARKER,
      max: 1,
      acquireTimeoutMillis: 0,
      leakDetectionMillis: 200,
      logger: capture.logger,
    });
    printed.push(everythingAbout(pool));

    // Connect, a query with a parameter, a transaction with a setting, commit.
    await pool.acquire(async (conn) => {
      printed.push(everythingAbout(conn));
      const result = await conn.query<{ v: string }>('select $1::text as v', [PARAM_VALUE]);
      expect(result.rows[0]?.v).toBe(PARAM_VALUE);
      await conn.transaction(
        async (tx) => {
          printed.push(everythingAbout(tx));
          await tx.query('select current_setting($1) as s', ['app.tenant_id']);
        },
        { settings: { 'app.tenant_id': SETTING_VALUE } },
      );
    });
    expect(capture.events('pool.connect')).toHaveLength(1);
    expect(capture.events('tx.commit')).toHaveLength(1);

    // Commit failure: a deferred unique constraint fails at COMMIT.
    const commitFailure = await rejection(
      pool.transaction(async (tx) => {
        printed.push(everythingAbout(tx));
        await tx.query('insert into items values ($1), ($1)', [1]);
      }),
    );
    expect(commitFailure).toMatchObject({ code: '23505' });
    printed.push(everythingAbout(commitFailure));

    // Exhaustion while a leak is held past leakDetectionMillis.
    const held = await pool.acquire();
    await held.query('select 1');
    const exhausted = await rejection(pool.acquire());
    expect(exhausted).toBeInstanceOf(PoolExhaustedError);
    printed.push(everythingAbout(exhausted));
    await sleep(350);
    printed.push(everythingAbout(held), everythingAbout(pool));
    await held.release();
    printed.push(everythingAbout(held));
    expect(capture.events('pool.exhausted')).toHaveLength(1);
    // Any scope of this pool held past the threshold is reported (a slow one on a busy machine too).
    const leaks = capture.events('leak');
    expect(leaks.filter((r) => r.scopeId === held.scopeId)).toHaveLength(1);
    expect(capture.events('leak.ended').map((r) => r.scopeId)).toEqual(leaks.map((r) => r.scopeId));
    await pool.close();
    printed.push(everythingAbout(pool));

    // Connect failures: a refused port (retried until the deadline) and a missing database (at once).
    const refusedUrl = new URL(url.href);
    refusedUrl.port = String(await closedPort());
    const refused = createPool({
      connectionString: refusedUrl.href,
      password: MARKER,
      acquireTimeoutMillis: 400,
      logger: capture.logger,
    });
    const refusedError = await rejection(refused.query('select 1'));
    expect(refusedError).toBeInstanceOf(ConnectError);
    printed.push(everythingAbout(refusedError), everythingAbout(refused));
    await refused.close();

    const missingUrl = new URL(url.href);
    missingUrl.pathname = '/no_such_database_here';
    const missing = createPool({ connectionString: missingUrl.href, logger: capture.logger });
    const missingError = await rejection(missing.query('select 1'));
    expect(missingError).toBeInstanceOf(ConnectError);
    printed.push(everythingAbout(missingError));
    await missing.close();
    expect(capture.events('pool.connectError').length).toBeGreaterThanOrEqual(2);

    // Bad configuration next to a secret.
    for (const bad of [
      { connectionString: url.href, password: MARKER, max: 0 },
      { conectionString: url.href, password: MARKER },
      { connectionString: url.href, password: MARKER, acquireTimeoutMillis: -1 },
    ]) {
      const err = (() => {
        try {
          createPool(bad as never);
        } catch (e) {
          return e;
        }
        throw new Error('expected a ConfigError');
      })();
      expect(err).toBeInstanceOf(ConfigError);
      printed.push(everythingAbout(err));
    }

    // Every kind of event above was logged, none of them with a secret or a caller's value.
    const events = new Set(capture.records().map((r) => r.event));
    for (const event of [
      'pool.connect',
      'pool.acquire',
      'pool.release',
      'tx.begin',
      'tx.commit',
      'tx.rollback',
      'pool.exhausted',
      'leak',
      'leak.ended',
      'pool.connectError',
      'pool.destroy',
    ]) {
      expect(events).toContain(event);
    }
    const log = capture.lines.join('\n');
    expectNoSecret(log);
    expect(log).not.toContain(PARAM_VALUE);
    expect(log).not.toContain(SETTING_VALUE);
    for (const text of printed) expectNoSecret(text);
  });

  it('keeps the SQLSTATE, message and detail of a database error in its log line', async () => {
    const capture = captureLogs();
    await using pool = createPool({ connectionString: url.href, password: MARKER, logger: capture.logger });
    await expect(
      pool.transaction(async (tx) => {
        await tx.query('insert into items values ($1)', [2]);
        await tx.query('insert into items values ($1)', [2]);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    const [rollback] = capture.events('tx.rollback');
    expect(rollback).toMatchObject({
      reason: 'commit failed',
      err: {
        code: '23505',
        message: expect.stringContaining('items_id_key'),
        detail: expect.stringContaining('(id)=(2)'),
        table: 'items',
        constraint: 'items_id_key',
      },
    });
    expectNoSecret(capture.lines.join('\n'));
  });
});
