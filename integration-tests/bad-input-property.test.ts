import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AcquireOptions,
  ConfigError,
  type Pool,
  type Transaction,
  type TransactionOptions,
} from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase } from './setup/db.js';
import { poolFor } from './support/tx-support.js';

/**
 * Bad input against the real server. Random bad transaction and acquire options reject with ConfigError
 * before anything is sent: the callback never runs, no connection is acquired or opened, and the server sees
 * no statement and no session. Random strings — quotes, backslashes, `$1`, SQL fragments, any unicode but
 * NUL — travel as bound parameters and come back exactly, in query values, in query text, and in
 * transaction-local settings, with no side effect on the database.
 */

/** Fixed seed and a modest number of runs: the suite runs once in CI and must say the same every time. */
const RUNS = { seed: 0xbad1, numRuns: 50 } as const;

const SQL = "'; drop table sentinel; --";

/** A bad transaction option and the field its ConfigError must name, for each form. */
interface BadTx {
  options: unknown;
  /** The field named by `pool.transaction(fn, options)`. */
  field: string;
  /** The field named by `pool.transaction(options)` (the `await using` form refuses `retry` itself). */
  usingField: string;
  /** What kind of mistake it is, to check that every kind was tried. */
  kind: string;
}

const TX_KEYS = ['isolation', 'readOnly', 'deferrable', 'timeoutMillis', 'signal', 'settings', 'propagation'];

/** Values that are no options object at all (never a function, which would be the callback). */
const notAnObject = fc.constantFrom<unknown>(
  null,
  42,
  Number.NaN,
  'serializable',
  SQL,
  true,
  10n,
  Symbol('options'),
  [],
  ['serializable'],
);

/** Valid options to put the one bad option beside (no retry: the `await using` form would refuse it). */
const validBase = fc.record(
  {
    isolation: fc.constantFrom('read committed', 'repeatable read', 'serializable'),
    readOnly: fc.boolean(),
    timeoutMillis: fc.integer({ min: 1, max: 60_000 }),
    settings: fc.constant({ 'app.tenant_id': '42', 'app.note': SQL }),
    propagation: fc.constantFrom('required', 'nested', 'requiresNew'),
  },
  { requiredKeys: [] },
);

/** One bad option: [key, value, field named]. */
const badTxOption: fc.Arbitrary<[string, unknown, string]> = fc.oneof(
  fc
    .oneof(
      fc.constantFrom<unknown>(
        'SERIALIZABLE',
        'snapshot',
        'read uncommitted',
        '',
        `serializable; ${SQL}`,
        SQL,
      ),
      fc.string().filter((s) => !['read committed', 'repeatable read', 'serializable'].includes(s)),
      fc.constantFrom<unknown>(null, 1, {}, ['serializable']),
    )
    .map((v): [string, unknown, string] => ['isolation', v, 'isolation']),
  fc
    .constantFrom<unknown>('true', 1, 0, null, {}, SQL)
    .map((v): [string, unknown, string] => ['readOnly', v, 'readOnly']),
  fc
    .constantFrom<unknown>('true', 1, null, [], SQL)
    .map((v): [string, unknown, string] => ['deferrable', v, 'deferrable']),
  fc
    .oneof(
      fc.constantFrom<unknown>(0, -0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
      fc.constantFrom<unknown>('100', null, {}, [100], -1e300, SQL),
      fc.double({ max: 0, noNaN: true }),
    )
    .map((v): [string, unknown, string] => ['timeoutMillis', v, 'timeoutMillis']),
  fc
    .constantFrom<unknown>({ aborted: false }, new AbortController(), 'signal', null, 1)
    .map((v): [string, unknown, string] => ['signal', v, 'signal']),
  fc
    .constantFrom<unknown>('REQUIRED', 'mandatory', SQL, null, 1)
    .map((v): [string, unknown, string] => ['propagation', v, 'propagation']),
  fc
    .constantFrom<unknown>(
      SQL,
      'app.tenant_id=42',
      null,
      [['app.tenant_id', '42']],
      new Map([['app.x', '1']]),
    )
    .map((v): [string, unknown, string] => ['settings', v, 'settings']),
  fc
    .oneof(
      fc.constantFrom(
        'a; drop table sentinel',
        `app.x${SQL}`,
        "app.tenant'",
        'app tenant',
        '',
        '1app',
        'app..x',
      ),
      fc.string({ maxLength: 30 }).map((s) => `app.${s};`),
    )
    .map((name): [string, unknown, string] => ['settings', { [name]: '1' }, `settings.${name.slice(0, 40)}`]),
  fc
    .constantFrom<unknown>(42, null, true, {}, ['42'])
    .map((v): [string, unknown, string] => ['settings', { 'app.tenant_id': v }, 'settings.app.tenant_id']),
  fc
    .oneof(
      fc.constantFrom('isolationLevel', 'timeout', 'readonly', SQL),
      fc.string({ minLength: 1 }).map((s) => `x-${s}`),
    )
    .map((key): [string, unknown, string] => [key, true, key]),
);

const badTx: fc.Arbitrary<BadTx> = fc.oneof(
  notAnObject.map((options) => ({ options, field: 'options', usingField: 'options', kind: 'not an object' })),
  {
    // Most cases: one bad option among good ones.
    arbitrary: fc.tuple(validBase, badTxOption).map(([base, [key, value, field]]) => ({
      options: { ...base, [key]: value },
      field,
      usingField: field,
      kind: TX_KEYS.includes(key) ? key : 'unknown key',
    })),
    weight: 6,
  },
  // deferrable without serializable + readOnly.
  fc
    .constantFrom<TransactionOptions>(
      { deferrable: true },
      { isolation: 'serializable', deferrable: true },
      { readOnly: true, deferrable: true },
    )
    .map((options) => ({ options, field: 'deferrable', usingField: 'deferrable', kind: 'deferrable alone' })),
  // Bad retry fields: the callback form names them; the await using form refuses retry before looking inside.
  fc
    .constantFrom<[unknown, string]>(
      [{ maxAttempts: 0 }, 'retry.maxAttempts'],
      [{ maxAttempts: 101 }, 'retry.maxAttempts'],
      [{ maxAttempts: 1.5 }, 'retry.maxAttempts'],
      [{ maxAttempts: '3' }, 'retry.maxAttempts'],
      [{ maxAttempts: 3, baseDelayMillis: -1 }, 'retry.baseDelayMillis'],
      [{ maxAttempts: 3, maxDelayMillis: Number.NaN }, 'retry.maxDelayMillis'],
      [{ maxAttempts: 3, baseDelayMillis: 100, maxDelayMillis: 10 }, 'retry.maxDelayMillis'],
      [{ maxAttempts: 3, [SQL]: 1 }, `retry.${SQL}`],
      [SQL, 'retry'],
      [null, 'retry'],
    )
    .map(([retry, field]) => ({ options: { retry }, field, usingField: 'retry', kind: 'retry' })),
);

/** A bad acquire option and the field its ConfigError must name. */
const badAcquire: fc.Arbitrary<{ options: unknown; field: string }> = fc.oneof(
  notAnObject.map((options) => ({ options, field: 'options' })),
  fc
    .oneof(
      fc.constantFrom<unknown>(-1, Number.NaN, Number.NEGATIVE_INFINITY, '100', null, {}, SQL, 10n),
      fc.double({ max: -Number.MIN_VALUE, noNaN: true }),
    )
    .map((timeoutMillis) => ({ options: { timeoutMillis }, field: 'timeoutMillis' })),
  fc
    .constantFrom<unknown>({ aborted: false }, new AbortController(), 'signal', null, 1)
    .map((signal) => ({ options: { timeoutMillis: 100, signal }, field: 'signal' })),
  fc
    .constantFrom('timeout', 'abortSignal', SQL, 'isolation')
    .map((key) => ({ options: { timeoutMillis: 100, [key]: 1 }, field: key })),
);

/**
 * Strings that would do harm if anything spliced them into SQL: quotes, backslashes, placeholders, comment
 * and statement delimiters, dollar quotes, and any unicode (PostgreSQL text cannot hold NUL).
 */
const FRAGMENTS = [
  SQL,
  "'",
  "''",
  '"',
  '\\',
  "\\'",
  '$1',
  '$2',
  '$$',
  '$q$',
  '--',
  '/*',
  '*/',
  ';',
  "'); drop table sentinel; --",
  "E'\\x41'",
  '%s',
  '{{x}}',
  '?',
  ':name',
  '\u2028',
  '\u{1F600}',
  ' ',
  '\n',
  '\r\n',
  '\t',
  'a',
];
const tricky = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(...FRAGMENTS),
    fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 8 }).map((parts) => parts.join('')),
  )
  .map((s) => s.replaceAll('\0', ''));

describe('bad input against the server', () => {
  let db: TestDatabase;
  /** Never given a good call: it must never open a connection. */
  let cold: Pool;
  /** Holds one idle connection: bad calls must not use it. */
  let warm: Pool;
  /** For the round trips; one connection, so the statement after a transaction runs where it ran. */
  let pool: Pool;
  let coldName: string;
  let warmName: string;
  const WARM_MARKER = "select 'warm: the last statement before the bad input' as marker";

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table sentinel (id int primary key)');
    await db.admin('insert into sentinel values (1), (2), (3)');
    coldName = `${db.name}_cold`;
    warmName = `${db.name}_warm`;
    cold = poolFor(db, { application_name: coldName, max: 1 });
    warm = poolFor(db, { application_name: warmName, max: 1 });
    pool = poolFor(db, { max: 1 });
    await warm.query(WARM_MARKER);
  });

  afterAll(async () => {
    await Promise.all([cold?.close(), warm?.close(), pool?.close()]);
    await db?.drop();
  });

  /** The sentinel table is there with its rows, and no other table appeared. */
  async function expectDatabaseUntouched(): Promise<void> {
    const rows = await db.admin('select count(*)::int as n from sentinel');
    expect(rows.rows[0]).toEqual({ n: 3 });
    const tables = await db.admin(
      "select count(*)::int as n from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'",
    );
    expect(tables.rows[0]).toEqual({ n: 1 });
  }

  /** The totals a bad call must leave as they were (nothing acquired, opened, committed or rolled back). */
  function totals(p: Pool) {
    const { acquired, created, destroyed, commits, rollbacks, borrowed, waiting } = p.stats();
    return { acquired, created, destroyed, commits, rollbacks, borrowed, waiting };
  }

  async function expectConfigError(call: Promise<unknown>, field: string): Promise<void> {
    const err = await call.then(
      () => expect.fail(`resolved; expected a ConfigError naming ${field}`),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', name: 'ConfigError', field });
    expect((err as Error).message).toContain(field);
  }

  it('bad transaction options reject with ConfigError; the callback never runs; the server sees nothing', async () => {
    const kinds = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(badTx, { minLength: 1, maxLength: 3 }), async (cases) => {
        for (const { options, field, usingField, kind } of cases) {
          kinds.add(kind);
          for (const p of [cold, warm]) {
            const before = totals(p);
            let ran = false;
            const fn = async () => {
              ran = true;
            };
            await expectConfigError(p.transaction(fn, options as TransactionOptions), field);
            await expectConfigError(p.transaction(options as TransactionOptions), usingField);
            expect(ran).toBe(false);
            expect(totals(p)).toEqual(before);
          }
        }
      }),
      RUNS,
    );
    // Every kind of mistake was tried.
    expect([...kinds].sort()).toEqual(
      [...TX_KEYS, 'not an object', 'unknown key', 'deferrable alone', 'retry'].sort(),
    );
    expect(cold.stats()).toMatchObject({ created: 0, size: 0 });
    expect(await countConnections(db.name, coldName)).toBe(0);
    // The warm pool's one session is idle, and its last statement is still the one sent before: no BEGIN,
    // no set_config, nothing.
    const sessions = await db.admin(
      'select state, query from pg_stat_activity where datname = $1 and application_name = $2',
      [db.name, warmName],
    );
    expect(sessions.rows).toEqual([{ state: 'idle', query: WARM_MARKER }]);
    await expectDatabaseUntouched();
  });

  it('bad acquire options reject with ConfigError; the callback never runs; the server sees nothing', async () => {
    const fields = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(badAcquire, { minLength: 1, maxLength: 3 }), async (cases) => {
        for (const { options, field } of cases) {
          fields.add(['options', 'timeoutMillis', 'signal'].includes(field) ? field : 'unknown key');
          for (const p of [cold, warm]) {
            const before = totals(p);
            let ran = false;
            await expectConfigError(
              p.acquire(async () => {
                ran = true;
              }, options as AcquireOptions),
              field,
            );
            await expectConfigError(p.acquire(options as AcquireOptions), field);
            expect(ran).toBe(false);
            expect(totals(p)).toEqual(before);
          }
        }
      }),
      RUNS,
    );
    expect([...fields].sort()).toEqual(['options', 'signal', 'timeoutMillis', 'unknown key']);
    expect(cold.stats()).toMatchObject({ created: 0, size: 0 });
    expect(await countConnections(db.name, coldName)).toBe(0);
    const sessions = await db.admin(
      'select state, query from pg_stat_activity where datname = $1 and application_name = $2',
      [db.name, warmName],
    );
    expect(sessions.rows).toEqual([{ state: 'idle', query: WARM_MARKER }]);
  });

  it('huge but valid timeouts are long ones, not instant ones', async () => {
    const huge = fc.oneof(
      fc.constantFrom(2 ** 31, 1e12, 1e21, 1e300, Number.MAX_VALUE),
      fc.double({ min: 2 ** 31, max: Number.MAX_VALUE, noNaN: true }),
    );
    await fc.assert(
      fc.asyncProperty(huge, async (timeoutMillis) => {
        const work = async (tx: Transaction) => {
          await tx.query('select pg_sleep(0.01)');
          return 'done';
        };
        expect(await pool.transaction(work, { timeoutMillis })).toBe('done');
        {
          await using tx = await pool.transaction({ timeoutMillis });
          expect(await work(tx)).toBe('done');
          await tx.commit();
        }
        expect(
          await pool.acquire(async (conn) => (await conn.query('select 1 as one')).rows, { timeoutMillis }),
        ).toEqual([{ one: 1 }]);
      }),
      { ...RUNS, numRuns: 20 },
    );
    expect(pool.stats()).toMatchObject({ borrowed: 0 });
  });

  it('query values and text reach pg unchanged: any string comes back exactly', async () => {
    const TAG = '$pgscope$';
    await fc.assert(
      fc.asyncProperty(fc.array(tricky, { minLength: 1, maxLength: 4 }), async (strings) => {
        // One at a time and all together, in a transaction.
        const inTx = await pool.transaction(async (tx) => {
          const one: unknown[] = [];
          for (const s of strings) {
            one.push((await tx.query<{ v: string }>('select $1::text as v', [s])).rows[0]?.v);
          }
          const columns = strings.map((_, i) => `$${i + 1}::text as v${i}`).join(', ');
          const all = await tx.query(`select ${columns}`, strings);
          return { one, all: Object.values(all.rows[0] ?? {}) };
        });
        expect(inTx.one).toEqual(strings);
        expect(inTx.all).toEqual(strings);
        for (const s of strings) {
          // A QueryConfig on the pool.
          const viaConfig = await pool.query<{ v: string }>({ text: 'select $1::text as v', values: [s] });
          expect(viaConfig.rows).toEqual([{ v: s }]);
          // The text itself is passed on as it is: a dollar-quoted literal in it comes back unchanged.
          if (!s.includes(TAG) && !s.endsWith('$')) {
            const inText = await pool.query<{ v: string }>({ text: `select ${TAG}${s}${TAG}::text as v` });
            expect(inText.rows).toEqual([{ v: s }]);
          }
        }
        expect(pool.stats()).toMatchObject({ borrowed: 0 });
      }),
      RUNS,
    );
    await expectDatabaseUntouched();
  });

  it('transaction-local settings with SQL in their values come back verbatim, and do nothing else', async () => {
    const settingsArb = fc
      .uniqueArray(fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/), { minLength: 1, maxLength: 4 })
      .chain((names) =>
        fc.tuple(fc.constant(names), fc.array(tricky, { minLength: names.length, maxLength: names.length })),
      )
      .map(([names, values]) =>
        Object.fromEntries(names.map((n, i) => [`pgscope_test.${n}`, values[i] ?? ''])),
      );

    async function read(tx: Transaction, names: string[]): Promise<Record<string, string>> {
      const out: Record<string, string> = {};
      for (const name of names) {
        const result = await tx.query<{ v: string }>('select current_setting($1) as v', [name]);
        out[name] = result.rows[0]?.v ?? '<missing>';
      }
      return out;
    }

    await fc.assert(
      fc.asyncProperty(settingsArb, fc.boolean(), async (settings, callbackForm) => {
        const names = Object.keys(settings);
        let seen: Record<string, string>;
        if (callbackForm) {
          seen = await pool.transaction((tx) => read(tx, names), { settings });
        } else {
          await using tx = await pool.transaction({ settings });
          seen = await read(tx, names);
          await tx.commit();
        }
        expect(seen).toEqual(settings);
        // Gone after the transaction, on the connection that ran it.
        const after = await pool.query<{ v: string }>(
          `select ${names.map((_, i) => `coalesce(current_setting($${i + 1}, true), '')`).join(' || ')} as v`,
          names,
        );
        expect(after.rows).toEqual([{ v: '' }]);
        expect(pool.stats()).toMatchObject({ borrowed: 0 });
      }),
      RUNS,
    );
    await expectDatabaseUntouched();
  });
});
