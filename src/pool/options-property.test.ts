import { createServer, type Server } from 'node:net';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestPolicy } from '../adapters/request-transaction.js';
import { ConfigError, PoolClosedError } from '../errors.js';
import { createPool, type Pool } from '../index.js';
import { normalizeTxOptions, type TransactionOptions } from '../tx/tx-options.js';
import type { AcquireOptions } from './acquire-options.js';
import type { PoolConfig } from './pool-config.js';
import { normalizePoolConfig } from './pool-options.js';

/**
 * Property tests of every options object the library takes (pool, transaction, acquire, request middleware)
 * against a model written from the contract: random values of every type — wrong types, negative numbers,
 * NaN, ±Infinity, huge numbers, fractions, strings with SQL in them, objects, arrays, null, functions,
 * symbols, unknown keys — are either accepted (when the model says they are valid) or refused with
 * `ConfigError` naming the option. Never another exception, never a connection attempt.
 */

/** Fixed seed and a modest number of runs: the suite runs once in CI and must say the same every time. */
const RUNS = { seed: 0x5c09e, numRuns: 200 } as const;

/** The largest delay a Node timer (and PostgreSQL's `statement_timeout`) takes: 2^31 - 1 ms. */
const MAX_TIMER = 2 ** 31 - 1;

const quiet = pino({ level: 'silent' });

/** What a ConfigError's message must say besides the field: what would have been accepted. */
const HINT = /expected|allowed|must|did you mean|only|cannot|remove it|not a setting name/;

/** Checks the shape of a ConfigError and returns its field. */
function expectConfigError(err: unknown): string {
  expect(err).toBeInstanceOf(ConfigError);
  const e = err as ConfigError;
  expect(e.code).toBe('INVALID_CONFIG');
  expect(e.name).toBe('ConfigError');
  expect(typeof e.field).toBe('string');
  expect(e.message.startsWith(`invalid option ${e.field}: `)).toBe(true);
  expect(e.message).toMatch(HINT);
  return e.field;
}

/** What a synchronous call did: returned a value, or threw. */
type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

function attempt<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Asserts an outcome against the model's set of bad fields: accepted iff none; else one of them is named. */
function expectVerdict<T>(outcome: Outcome<T>, bad: ReadonlySet<string>): void {
  if (bad.size === 0) {
    if (!outcome.ok) throw outcome.error;
    return;
  }
  expect(outcome.ok, `expected a ConfigError naming one of ${[...bad].join(', ')}`).toBe(false);
  if (outcome.ok) return;
  const field = expectConfigError(outcome.error);
  expect([...bad]).toContain(field);
  if (bad.size === 1) expect(field).toBe([...bad][0]);
}

// ---------------------------------------------------------------------------------------------------------
// Values

const SQL = "'; drop table x; --";

/** Hand-picked values of every kind, the edges first. */
const edgeValue = fc.constantFrom<unknown>(
  undefined,
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  0.5,
  1.5,
  -0.5,
  100,
  MAX_TIMER,
  MAX_TIMER + 1,
  1e12,
  1e21,
  1e300,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  '',
  '0',
  '10',
  '1000',
  'Infinity',
  'serializable',
  'SERIALIZABLE',
  'rollback',
  'discard',
  'warn',
  'nested',
  SQL,
  `serializable; ${SQL}`,
  'DISCARD ALL',
  '$1',
  '\\',
  '"',
  'x'.repeat(100),
  [],
  [1],
  ['a'],
  [SQL],
  {},
  { valueOf: () => 5 },
  {
    toString(): string {
      throw new Error('coerced to a string');
    },
    valueOf(): number {
      throw new Error('coerced to a number');
    },
  },
  Object.create(null),
  new Date(0),
  /x/,
  new Map([['app.tenant_id', '42']]),
  new Set(['a']),
  10n,
  Symbol('s'),
  () => 1,
  async () => {},
  new AbortController(),
  new AbortController().signal,
  new Number(5),
  new String('read committed'),
  new Error('x'),
  quiet,
  console,
);

/** Any value: the edges, and random ones of every type. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: edgeValue, weight: 6 },
  { arbitrary: fc.double(), weight: 2 },
  { arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 20 }), weight: 1 },
  { arbitrary: fc.bigInt(), weight: 1 },
  { arbitrary: fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }), weight: 1 },
  { arbitrary: fc.object({ maxDepth: 1, maxKeys: 3 }), weight: 1 },
  { arbitrary: fc.func(fc.anything({ maxDepth: 0 })), weight: 1 },
);

/** Unknown keys that are far from every option name (no typo of one), including SQL. */
const farKey = fc.oneof(
  fc.constantFrom(SQL, `${SQL} `, 'x-y; drop role postgres', 'SELECT pg_sleep(10)'),
  fc.string({ maxLength: 8 }).map((s) => `${SQL}${s}`),
);

// ---------------------------------------------------------------------------------------------------------
// The model, from the contract

const isNumber = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);

/** A millisecond option: `zero` when 0 means something, `infinity` when Infinity means "forever". */
function millis(v: unknown, { zero = false, infinity = false } = {}): boolean {
  if (!isNumber(v)) return false;
  if (v === Number.POSITIVE_INFINITY) return infinity;
  return Number.isFinite(v) && (v > 0 || (zero && v === 0));
}

/** A count: a whole number a pool can use (safe integer) from `minimum`, or Infinity where allowed. */
function count(v: unknown, minimum: number, infinity = false): boolean {
  if (infinity && v === Number.POSITIVE_INFINITY) return true;
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= minimum;
}

function isLoggerLike(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return ['debug', 'info', 'warn', 'error', 'child', 'isLevelEnabled'].every(
    (m) => typeof o[m] === 'function',
  );
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' &&
  v !== null &&
  (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** The pool's own options (besides `min`, which depends on `max`), each alone: valid or not. */
const POOL_RULES: Readonly<Record<string, (v: unknown) => boolean>> = {
  max: (v) => count(v, 1),
  acquireTimeoutMillis: (v) => millis(v, { zero: true, infinity: true }),
  maxWaiting: (v) => count(v, 0, true),
  idleTimeoutMillis: (v) => millis(v, { infinity: true }),
  maxLifetimeMillis: (v) => millis(v, { infinity: true }),
  connectTimeoutMillis: (v) => millis(v, { infinity: true }),
  connectionTimeoutMillis: (v) => millis(v, { infinity: true }),
  leakDetectionMillis: (v) => millis(v, { zero: true }),
  slowAcquireMillis: (v) => millis(v, { infinity: true }),
  // PostgreSQL's statement_timeout is whole milliseconds up to 2^31 - 1.
  statementTimeoutMillis: (v) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_TIMER,
  logger: isLoggerLike,
  onConnect: (v) => typeof v === 'function',
  resetOnRelease: (v) => v === 'rollback' || v === 'discard',
  nestedAcquire: (v) => v === 'warn' || v === 'error' || v === 'allow',
  allowExitOnIdle: (v) => typeof v === 'boolean',
  prepare: (v) => typeof v === 'boolean',
  statementCacheSize: (v) => count(v, 1),
  // pg-scope manages pipelining itself.
  pipeline: () => false,
};

const POOL_FIELDS = ['min', ...Object.keys(POOL_RULES)];

/** The options of a pool config the model says are bad; undefined means "not given". */
function badPoolFields(config: Record<string, unknown>): Set<string> {
  const bad = new Set<string>();
  for (const [key, rule] of Object.entries(POOL_RULES)) {
    const v = config[key];
    if (v !== undefined && !rule(v)) bad.add(key);
  }
  // pg's name for the connect timeout counts only when pg-scope's own is not given.
  if (config.connectTimeoutMillis !== undefined) bad.delete('connectionTimeoutMillis');
  const min = config.min;
  if (min !== undefined) {
    const max = config.max === undefined ? 10 : config.max;
    if (!count(min, 0) || (count(max, 1) && (min as number) > (max as number))) bad.add('min');
  }
  return bad;
}

const ISOLATIONS = ['read committed', 'repeatable read', 'serializable'];
const PROPAGATIONS = ['required', 'nested', 'requiresNew'];
const TX_KEYS = [
  'isolation',
  'readOnly',
  'deferrable',
  'timeoutMillis',
  'signal',
  'retry',
  'settings',
  'propagation',
];

/** A PostgreSQL setting name: identifiers (letter or _, then letters, digits, _ or $) joined by '.'. */
function isSettingName(name: string): boolean {
  if (name.length === 0 || name.length > 63 * 4) return false;
  return name.split('.').every((part) => /^[A-Za-z_][A-Za-z0-9_$]*$/.test(part));
}

/** The fields of transaction options the model says are bad. */
function badTxFields(options: unknown, form: 'callback' | 'using'): Set<string> {
  const bad = new Set<string>();
  if (options === undefined) return bad;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return new Set(['options']);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!TX_KEYS.includes(key)) bad.add(key);
  const given = (key: string) => o[key] !== undefined;
  if (given('isolation') && !ISOLATIONS.includes(o.isolation as string)) bad.add('isolation');
  if (given('readOnly') && typeof o.readOnly !== 'boolean') bad.add('readOnly');
  if (given('deferrable') && typeof o.deferrable !== 'boolean') bad.add('deferrable');
  if (o.deferrable === true && !(o.isolation === 'serializable' && o.readOnly === true))
    bad.add('deferrable');
  if (given('timeoutMillis') && !millis(o.timeoutMillis)) bad.add('timeoutMillis');
  if (given('signal') && !(o.signal instanceof AbortSignal)) bad.add('signal');
  if (given('propagation') && !PROPAGATIONS.includes(o.propagation as string)) bad.add('propagation');
  if (given('retry')) {
    const r = o.retry;
    if (form === 'using' || typeof r !== 'object' || r === null) bad.add('retry');
    else {
      const retry = r as Record<string, unknown>;
      for (const key of Object.keys(retry)) {
        if (!['maxAttempts', 'baseDelayMillis', 'maxDelayMillis'].includes(key)) bad.add(`retry.${key}`);
      }
      const n = retry.maxAttempts;
      if (!(typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 100)) bad.add('retry.maxAttempts');
      const base = retry.baseDelayMillis === undefined ? 20 : retry.baseDelayMillis;
      const cap = retry.maxDelayMillis === undefined ? 1_000 : retry.maxDelayMillis;
      const baseOk = millis(base, { zero: true });
      const capOk = millis(cap, { zero: true });
      if (!baseOk) bad.add('retry.baseDelayMillis');
      if (!capOk || (baseOk && (cap as number) < (base as number))) bad.add('retry.maxDelayMillis');
    }
  }
  if (given('settings')) {
    if (!isPlainObject(o.settings)) bad.add('settings');
    else {
      for (const [name, value] of Object.entries(o.settings)) {
        if (!isSettingName(name)) bad.add(`settings.${name.slice(0, 40)}`);
        else if (typeof value !== 'string') bad.add(`settings.${name}`);
      }
    }
  }
  return bad;
}

/** The fields of acquire options the model says are bad. */
function badAcquireFields(options: unknown): Set<string> {
  const bad = new Set<string>();
  if (options === undefined) return bad;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return new Set(['options']);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (key !== 'timeoutMillis' && key !== 'signal') bad.add(key);
  if (o.timeoutMillis !== undefined && !millis(o.timeoutMillis, { zero: true, infinity: true })) {
    bad.add('timeoutMillis');
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) bad.add('signal');
  return bad;
}

// ---------------------------------------------------------------------------------------------------------
// Option objects: mostly valid values, with wrong ones mixed in

const settingName = fc.oneof(
  fc.constantFrom('app.tenant_id', 'statement_timeout', 'my_app.user.id', '_x', 'a$b.c', 'App.Tenant2'),
  fc.stringMatching(/^[a-z_][a-z0-9_$]{0,8}(\.[a-z_][a-z0-9_$]{0,8}){0,2}$/),
  fc.constantFrom(
    'a; drop table x',
    "app.tenant'",
    'app tenant',
    '',
    '.app',
    'app.',
    'app..x',
    '1app',
    'app-x',
    'app."x"',
    'app.x;',
    'app.x--',
    `app.${SQL}`,
    'a'.repeat(300),
  ),
  fc.string({ maxLength: 12 }),
);

const settingsValue = fc.oneof(
  {
    arbitrary: fc.dictionary(settingName, fc.oneof(fc.string(), fc.constant(SQL)), { maxKeys: 3 }),
    weight: 4,
  },
  { arbitrary: fc.dictionary(settingName, anyValue, { maxKeys: 2 }), weight: 1 },
  { arbitrary: anyValue, weight: 1 },
);

const retryValue = fc.oneof(
  {
    arbitrary: fc.record(
      {
        maxAttempts: fc.oneof(fc.integer({ min: 1, max: 100 }), anyValue),
        baseDelayMillis: fc.oneof(fc.integer({ min: 0, max: 50 }), anyValue),
        maxDelayMillis: fc.oneof(fc.integer({ min: 50, max: 5_000 }), anyValue),
        attempts: anyValue,
      },
      { requiredKeys: ['maxAttempts'] },
    ),
    weight: 4,
  },
  { arbitrary: anyValue, weight: 1 },
);

/** Either a valid value (weight 3) or any value at all (weight 1). */
function mostly<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: anyValue, weight: 1 });
}

/** A valid value, now and then (one time in ten) any value at all: for objects of many fields. */
function rarely<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: anyValue, weight: 1 });
}

const txOptionsRecord = fc
  .tuple(
    fc.record(
      {
        isolation: mostly(fc.constantFrom(...ISOLATIONS)),
        readOnly: mostly(fc.boolean()),
        deferrable: mostly(fc.boolean()),
        timeoutMillis: mostly(fc.integer({ min: 1, max: 60_000 })),
        signal: mostly(fc.constant(new AbortController().signal)),
        retry: retryValue,
        settings: settingsValue,
        propagation: mostly(fc.constantFrom(...PROPAGATIONS)),
      },
      { requiredKeys: [] },
    ),
    fc.oneof(
      { arbitrary: fc.constant({}), weight: 4 },
      {
        arbitrary: fc.dictionary(
          fc.oneof(farKey, fc.constantFrom('isolationLevel', 'timeout', 'readonly', 'retries', 'Settings')),
          anyValue,
          { minKeys: 1, maxKeys: 2 },
        ),
        weight: 1,
      },
    ),
  )
  .map(([known, extra]) => ({ ...extra, ...known }));

/** Transaction options that are all valid, with SQL in the setting values. */
const validTxOptions = fc
  .record(
    {
      isolation: fc.constantFrom(...ISOLATIONS),
      readOnly: fc.boolean(),
      deferrable: fc.boolean(),
      timeoutMillis: fc.oneof(fc.integer({ min: 1, max: 60_000 }), fc.constant(1e12)),
      signal: fc.constant(new AbortController().signal),
      retry: fc.record(
        { maxAttempts: fc.integer({ min: 1, max: 100 }), baseDelayMillis: fc.integer({ min: 0, max: 50 }) },
        { requiredKeys: ['maxAttempts'] },
      ),
      settings: fc.dictionary(
        fc.stringMatching(/^[a-z_][a-z0-9_$]{0,8}(\.[a-z_][a-z0-9_$]{0,8}){0,2}$/),
        fc.oneof(fc.string(), fc.constant(SQL)),
        { maxKeys: 3 },
      ),
      propagation: fc.constantFrom(...PROPAGATIONS),
    },
    { requiredKeys: [] },
  )
  // deferrable only with serializable + readOnly.
  .map((o) =>
    o.deferrable && !(o.isolation === 'serializable' && o.readOnly) ? { ...o, deferrable: false } : o,
  );

/** Transaction options: valid ones, ones with wrong values mixed in, or any value at all in their place. */
const txOptions = fc.oneof(
  { arbitrary: validTxOptions, weight: 2 },
  { arbitrary: txOptionsRecord, weight: 4 },
  { arbitrary: anyValue, weight: 1 },
);

const acquireOptions = fc.oneof(
  {
    arbitrary: fc
      .tuple(
        fc.record(
          {
            timeoutMillis: mostly(fc.oneof(fc.integer({ min: 0, max: 60_000 }), fc.constant(Infinity))),
            signal: mostly(fc.constant(new AbortController().signal)),
          },
          { requiredKeys: [] },
        ),
        fc.oneof(
          { arbitrary: fc.constant({}), weight: 4 },
          {
            arbitrary: fc.dictionary(fc.oneof(farKey, fc.constantFrom('timeout', 'abortSignal')), anyValue, {
              minKeys: 1,
              maxKeys: 2,
            }),
            weight: 1,
          },
        ),
      )
      .map(([known, extra]) => ({ ...extra, ...known })),
    weight: 4,
  },
  { arbitrary: anyValue, weight: 1 },
);

// ---------------------------------------------------------------------------------------------------------

describe('bad input: properties of every options object', () => {
  // A listener that only counts connection attempts: if anything tried to reach a server, we would know.
  let server: Server;
  let port = 0;
  let connections = 0;

  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Where every pool of these tests points: the counting listener. */
  const base = (): PoolConfig => ({ host: '127.0.0.1', port, logger: quiet });

  /**
   * Creates a pool from `config` and closes it again. A valid config with `min` > 0 would open connections at
   * once (as documented), so that one is only normalized.
   */
  async function tryCreatePool(config: Record<string, unknown>): Promise<Outcome<Pool | undefined>> {
    const outcome = attempt(() => {
      if (typeof config.min === 'number' && config.min > 0) {
        normalizePoolConfig(config as PoolConfig);
        return undefined;
      }
      return createPool(config as PoolConfig);
    });
    if (outcome.ok && outcome.value) {
      expect(outcome.value.stats()).toMatchObject({ size: 0, created: 0, acquired: 0 });
      await outcome.value.close();
    }
    return outcome;
  }

  it('createPool: one option with any value is accepted iff valid, else ConfigError naming it', async () => {
    const seen = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...POOL_FIELDS), anyValue, async (field, value) => {
        const config = { ...base(), [field]: value };
        const outcome = await tryCreatePool(config);
        expectVerdict(outcome, badPoolFields(config));
        if (outcome.ok) {
          seen.accepted++;
          if (value !== undefined && field !== 'connectionTimeoutMillis') {
            const settings = normalizePoolConfig(config as PoolConfig) as unknown as Record<string, unknown>;
            expect(settings[field]).toBe(value);
          }
        } else {
          seen.refused++;
          expect((outcome.error as ConfigError).field).toBe(field);
        }
        expect(connections).toBe(0);
      }),
      RUNS,
    );
    expect(seen.accepted).toBeGreaterThan(10);
    expect(seen.refused).toBeGreaterThan(50);
  });

  it("createPool: whole configs, with junk in pg's fields and unknown keys, are accepted iff valid", async () => {
    const poolOption = fc.record(
      {
        max: rarely(fc.integer({ min: 1, max: 50 })),
        min: rarely(fc.integer({ min: 0, max: 5 })),
        acquireTimeoutMillis: rarely(fc.integer({ min: 0, max: 60_000 })),
        maxWaiting: rarely(fc.integer({ min: 0, max: 10_000 })),
        idleTimeoutMillis: rarely(fc.integer({ min: 1, max: 60_000 })),
        maxLifetimeMillis: rarely(fc.integer({ min: 1, max: 3_600_000 })),
        connectTimeoutMillis: rarely(fc.integer({ min: 1, max: 60_000 })),
        connectionTimeoutMillis: rarely(fc.integer({ min: 1, max: 60_000 })),
        leakDetectionMillis: rarely(fc.integer({ min: 0, max: 60_000 })),
        slowAcquireMillis: rarely(fc.integer({ min: 1, max: 60_000 })),
        statementTimeoutMillis: rarely(fc.integer({ min: 1, max: MAX_TIMER })),
        onConnect: rarely(fc.constant(async () => {})),
        resetOnRelease: rarely(fc.constantFrom('rollback', 'discard')),
        nestedAcquire: rarely(fc.constantFrom('warn', 'error', 'allow')),
        allowExitOnIdle: rarely(fc.boolean()),
      },
      { requiredKeys: [] },
    );
    // pg's own fields reach the driver unchanged, whatever they hold: never a crash in createPool.
    const pgFields = fc.record(
      {
        user: anyValue,
        password: anyValue,
        database: anyValue,
        application_name: anyValue,
        connectionString: anyValue,
        ssl: anyValue,
        keepAlive: anyValue,
        options: anyValue,
        statement_timeout: anyValue,
        query_timeout: anyValue,
        client_encoding: anyValue,
      },
      { requiredKeys: [] },
    );
    const unknown = fc.dictionary(farKey, anyValue, { maxKeys: 2 });
    const seen = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(poolOption, pgFields, unknown, async (own, pgOwn, extra) => {
        const config: Record<string, unknown> = { ...extra, ...pgOwn, ...own, host: '127.0.0.1', port };
        if (!('logger' in config)) config.logger = quiet;
        const outcome = await tryCreatePool(config);
        expectVerdict(outcome, badPoolFields(config));
        if (outcome.ok) seen.accepted++;
        else seen.refused++;
        expect(connections).toBe(0);
      }),
      RUNS,
    );
    expect(seen.accepted).toBeGreaterThan(10);
    expect(seen.refused).toBeGreaterThan(50);
  });

  it('createPool: a one-character slip (or a case slip) in any option name is refused, naming the key', () => {
    // Every option name createPool knows: its own and pg's ClientConfig fields.
    const known = [
      ...POOL_FIELDS,
      'user',
      'database',
      'password',
      'port',
      'host',
      'connectionString',
      'keepAlive',
      'keepAliveInitialDelayMillis',
      'stream',
      'statement_timeout',
      'lock_timeout',
      'idle_in_transaction_session_timeout',
      'query_timeout',
      'ssl',
      'application_name',
      'fallback_application_name',
      'types',
      'options',
      'client_encoding',
      'binary',
      'Promise',
      'enableChannelBinding',
    ];
    const slip = fc
      .tuple(
        fc.constantFrom(...known),
        fc.constantFrom('insert', 'delete', 'replace', 'case'),
        fc.nat(),
        fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzMTS_0'),
      )
      .map(([key, edit, at, ch]) => {
        const i = at % key.length;
        switch (edit) {
          case 'insert':
            return key.slice(0, i) + ch + key.slice(i);
          case 'delete':
            return key.slice(0, i) + key.slice(i + 1);
          case 'replace':
            return key.slice(0, i) + ch + key.slice(i + 1);
          default: {
            const c = key[i] ?? '';
            const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
            return key.slice(0, i) + flipped + key.slice(i + 1);
          }
        }
      });
    fc.assert(
      fc.property(slip, anyValue, (key, value) => {
        // An edit that made another known option (or left the name as it was) is no slip.
        fc.pre(!known.includes(key));
        const outcome = attempt(() => normalizePoolConfig({ ...base(), [key]: value } as PoolConfig));
        expect(outcome.ok, `${key} should be refused`).toBe(false);
        if (outcome.ok) return;
        expect(expectConfigError(outcome.error)).toBe(key);
        expect((outcome.error as Error).message).toMatch(/did you mean '[A-Za-z_]+'\?/);
      }),
      RUNS,
    );
    expect(connections).toBe(0);
  });

  it('transaction options: accepted iff valid (both forms); accepted ones build SQL only from fixed text', () => {
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(txOptions, fc.constantFrom('callback' as const, 'using' as const), (options, form) => {
        const outcome = attempt(() => normalizeTxOptions(options as TransactionOptions, form));
        expectVerdict(outcome, badTxFields(options, form));
        if (!outcome.ok) {
          seen.refused++;
          return;
        }
        seen.accepted++;
        const tx = outcome.value;
        // BEGIN is built from the allowed lists only; settings travel as bound parameters.
        expect(tx.begin).toMatch(
          /^BEGIN( ISOLATION LEVEL (READ COMMITTED|REPEATABLE READ|SERIALIZABLE))?( READ ONLY)?( DEFERRABLE)?$/,
        );
        const settings = (options as { settings?: Record<string, string> } | undefined)?.settings ?? {};
        const entries = Object.entries(settings);
        expect(tx.settingParams).toEqual(entries.flat());
        if (entries.length === 0) expect(tx.settingsSql).toBeUndefined();
        else {
          expect(tx.settingsSql).toBe(
            `SELECT ${entries.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`,
          );
        }
        expect(Object.isFrozen(tx)).toBe(true);
      }),
      RUNS,
    );
    expect(seen.accepted).toBeGreaterThan(20);
    expect(seen.refused).toBeGreaterThan(50);
  });

  it('transaction settings: a name is accepted iff it is identifier parts joined by "."', () => {
    const name = fc.oneof(
      settingName,
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.string({ maxLength: 70 }).map((s) => `app.${s}`),
    );
    fc.assert(
      fc.property(name, fc.oneof(fc.string(), fc.constant(SQL)), (settingNameValue, value) => {
        const options = { settings: { [settingNameValue]: value } };
        const outcome = attempt(() => normalizeTxOptions(options, 'callback'));
        expectVerdict(outcome, badTxFields(options, 'callback'));
        if (outcome.ok) expect(outcome.value.settingParams).toEqual([settingNameValue, value]);
      }),
      RUNS,
    );
  });

  describe('the public calls, on a closed pool: ConfigError iff bad, else PoolClosedError', () => {
    let pool: Pool;
    const seen = { accepted: 0, refused: 0 };

    beforeAll(async () => {
      pool = createPool(base());
      await pool.close();
    });

    /** A callback that must never run. */
    function probe(): { ran: () => boolean; fn: () => Promise<string> } {
      let ran = false;
      return {
        ran: () => ran,
        fn: async () => {
          ran = true;
          return 'ran';
        },
      };
    }

    /** How a call on the closed pool must end for options the model calls `bad`. */
    async function expectRejection(call: Promise<unknown>, bad: ReadonlySet<string>, options: unknown) {
      seen[bad.size > 0 ? 'refused' : 'accepted']++;
      let error: unknown;
      await call.then(
        () => expect.fail('a call on a closed pool resolved'),
        (err: unknown) => {
          error = err;
        },
      );
      if (bad.size > 0) {
        expectVerdict({ ok: false, error }, bad);
        return;
      }
      const signal = (options as { signal?: unknown } | undefined)?.signal;
      if (signal instanceof AbortSignal && signal.aborted) expect(error).toBe(signal.reason);
      else expect(error).toBeInstanceOf(PoolClosedError);
    }

    it('pool.transaction(fn, options) and pool.transaction(options)', async () => {
      await fc.assert(
        fc.asyncProperty(txOptions, async (options) => {
          const cb = probe();
          await expectRejection(
            pool.transaction(cb.fn, options as TransactionOptions),
            badTxFields(options, 'callback'),
            options,
          );
          // A function in the options' place is the callback form.
          if (typeof options !== 'function') {
            await expectRejection(
              pool.transaction(options as TransactionOptions),
              badTxFields(options, 'using'),
              options,
            );
          }
          expect(cb.ran()).toBe(false);
          expect(pool.stats()).toMatchObject({ acquired: 0, created: 0, borrowed: 0, waiting: 0 });
          expect(connections).toBe(0);
        }),
        RUNS,
      );
      expect(seen.accepted).toBeGreaterThan(20);
      expect(seen.refused).toBeGreaterThan(50);
      seen.accepted = 0;
      seen.refused = 0;
    });

    it('pool.acquire(fn, options) and pool.acquire(options)', async () => {
      await fc.assert(
        fc.asyncProperty(acquireOptions, async (options) => {
          const cb = probe();
          await expectRejection(
            pool.acquire(cb.fn, options as AcquireOptions),
            badAcquireFields(options),
            options,
          );
          if (typeof options !== 'function') {
            await expectRejection(
              pool.acquire(options as AcquireOptions),
              badAcquireFields(options),
              options,
            );
          }
          expect(cb.ran()).toBe(false);
          expect(pool.stats()).toMatchObject({ acquired: 0, created: 0, borrowed: 0, waiting: 0 });
          expect(connections).toBe(0);
        }),
        RUNS,
      );
      expect(seen.accepted).toBeGreaterThan(20);
      expect(seen.refused).toBeGreaterThan(50);
      seen.accepted = 0;
      seen.refused = 0;
    });
  });

  describe('request middleware options', () => {
    /** Near misses of the option names (a letter off, or the case). */
    const TYPOS = ['method', 'Methods', 'transactions', 'Transaction', 'isFailur', 'isfailure'];

    function badMiddlewareFields(options: unknown): Set<string> {
      if (options === undefined) return new Set();
      if (typeof options !== 'object' || options === null || Array.isArray(options))
        return new Set(['options']);
      const o = options as Record<string, unknown>;
      const bad = new Set<string>();
      // Near misses of the option names are refused; other keys (Fastify's `pool`, `prefix`) are not ours.
      for (const key of Object.keys(o)) if (TYPOS.includes(key)) bad.add(key);
      if (
        o.methods !== undefined &&
        !(Array.isArray(o.methods) && o.methods.every((m) => typeof m === 'string'))
      ) {
        bad.add('methods');
      }
      for (const key of ['transaction', 'isFailure']) {
        if (o[key] !== undefined && typeof o[key] !== 'function') bad.add(key);
      }
      return bad;
    }

    it('requestPolicy: accepted iff valid, else ConfigError naming the option', () => {
      const options = fc.oneof(
        {
          arbitrary: fc
            .tuple(
              fc.record(
                {
                  methods: mostly(fc.array(fc.constantFrom('GET', 'post', 'PATCH', SQL), { maxLength: 3 })),
                  transaction: mostly(fc.constant(() => undefined)),
                  isFailure: mostly(fc.constant((status: number) => status >= 500)),
                },
                { requiredKeys: [] },
              ),
              fc.dictionary(fc.constantFrom(...TYPOS, 'pool', 'prefix', 'logLevel', SQL), anyValue, {
                maxKeys: 2,
              }),
            )
            .map(([known, extra]) => ({ ...extra, ...known })),
          weight: 4,
        },
        { arbitrary: anyValue, weight: 1 },
      );
      fc.assert(
        fc.property(options, (o) => {
          const outcome = attempt(() => requestPolicy(o as Parameters<typeof requestPolicy>[0]));
          expectVerdict(outcome, badMiddlewareFields(o));
        }),
        RUNS,
      );
    });

    it("a request's transaction options, whatever transaction(req) returns: usable, or ConfigError", () => {
      const chosen = fc.oneof(txOptions, fc.boolean(), fc.constant(undefined));
      fc.assert(
        fc.property(chosen, fc.constantFrom('GET', 'POST'), (value, method) => {
          const policy = requestPolicy({
            transaction: () => value as TransactionOptions | boolean | undefined,
          });
          const outcome = attempt(() => {
            const decided = policy.decide({}, method);
            return decided === false ? false : normalizeTxOptions(decided, 'using');
          });
          // true / undefined: default options; an object with retry: refused (the handler cannot run twice).
          let bad: Set<string>;
          if (typeof value === 'boolean' || value === undefined) bad = new Set();
          else if (typeof value !== 'object' || value === null || Array.isArray(value))
            bad = new Set(['transaction']);
          else if ((value as { retry?: unknown }).retry !== undefined) bad = new Set(['retry']);
          else bad = badTxFields(value, 'using');
          expectVerdict(outcome, bad);
          if (outcome.ok && (value === false || (value === undefined && method === 'GET'))) {
            expect(outcome.value).toBe(false);
          }
        }),
        RUNS,
      );
    });
  });
});
