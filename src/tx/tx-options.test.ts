import { createServer, type Server } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { createPool } from '../index.js';
import { normalizePoolConfig } from '../pool/pool-options.js';
import { checkSavepointOptions, normalizeTxOptions, type TransactionOptions } from './tx-options.js';

/** Calls `normalizeTxOptions` with anything (bad options are the point) and returns the ConfigError it throws. */
function configErrorOf(options: unknown, form: 'callback' | 'using' = 'callback'): ConfigError {
  try {
    normalizeTxOptions(options as TransactionOptions, form);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(options)}`);
}

function expectBad(options: unknown, field: string, form: 'callback' | 'using' = 'callback'): void {
  const err = configErrorOf(options, form);
  expect(err.code).toBe('INVALID_CONFIG');
  expect(err.name).toBe('ConfigError');
  expect(err.field).toBe(field);
  expect(err.message).toContain(field);
}

describe('transaction options: validation', () => {
  it('accepts no options and an empty object', () => {
    expect(normalizeTxOptions(undefined, 'callback').begin).toBe('BEGIN');
    expect(normalizeTxOptions({}, 'using').begin).toBe('BEGIN');
  });

  it('rejects options that are not an object', () => {
    expectBad('serializable', 'options');
    expectBad(42, 'options');
    expectBad(null, 'options');
    expectBad([], 'options');
  });

  it('rejects unknown option names, naming them', () => {
    expectBad({ isolationLevel: 'serializable' }, 'isolationLevel');
    expectBad({ timeout: 100 }, 'timeout');
    expectBad({ readonly: true }, 'readonly');
  });

  it.each([['snapshot'], ['READ COMMITTED'], ['read uncommitted'], [''], [42], [null]])(
    'rejects isolation %j',
    (isolation) => {
      expectBad({ isolation }, 'isolation');
    },
  );

  it('accepts every isolation level of the list', () => {
    for (const isolation of ['read committed', 'repeatable read', 'serializable'] as const) {
      expect(normalizeTxOptions({ isolation }, 'callback').isolation).toBe(isolation);
    }
  });

  it('rejects readOnly and deferrable that are not booleans', () => {
    expectBad({ readOnly: 'yes' }, 'readOnly');
    expectBad({ readOnly: 1 }, 'readOnly');
    expectBad({ isolation: 'serializable', readOnly: true, deferrable: 'true' }, 'deferrable');
  });

  it.each<[string, TransactionOptions]>([
    ['alone', { deferrable: true }],
    ['with serializable only', { isolation: 'serializable', deferrable: true }],
    ['with readOnly only', { readOnly: true, deferrable: true }],
    ['with repeatable read + readOnly', { isolation: 'repeatable read', readOnly: true, deferrable: true }],
    ['with serializable + readOnly: false', { isolation: 'serializable', readOnly: false, deferrable: true }],
  ])('rejects deferrable %s', (_, options) => {
    expectBad(options, 'deferrable');
  });

  it('accepts deferrable with serializable + readOnly, and deferrable: false anywhere', () => {
    expect(
      normalizeTxOptions({ isolation: 'serializable', readOnly: true, deferrable: true }, 'callback')
        .deferrable,
    ).toBe(true);
    expect(normalizeTxOptions({ deferrable: false }, 'callback').deferrable).toBe(false);
  });

  it.each([[0], [-1], [-0.5], [Number.NaN], [Number.NEGATIVE_INFINITY], ['500'], [null], [true]])(
    'rejects timeoutMillis %s',
    (timeoutMillis) => {
      expectBad({ timeoutMillis }, 'timeoutMillis');
      expectBad({ timeoutMillis }, 'timeoutMillis', 'using');
    },
  );

  it('accepts a positive timeoutMillis', () => {
    expect(normalizeTxOptions({ timeoutMillis: 1 }, 'callback').timeoutMillis).toBe(1);
    expect(normalizeTxOptions({ timeoutMillis: 2_500 }, 'using').timeoutMillis).toBe(2_500);
  });

  it('rejects a signal that is not an AbortSignal', () => {
    expectBad({ signal: { aborted: false } }, 'signal');
    expectBad({ signal: new AbortController() }, 'signal');
  });

  it('rejects retry on the await using form, which has no callback to run again', () => {
    expectBad({ retry: { maxAttempts: 3 } }, 'retry', 'using');
    expect(normalizeTxOptions({ retry: { maxAttempts: 3 } }, 'callback').retry?.maxAttempts).toBe(3);
  });

  it.each([[0], [-1], [1.5], [Number.NaN], [Number.POSITIVE_INFINITY], ['3'], [undefined], [null]])(
    'rejects retry.maxAttempts %s',
    (maxAttempts) => {
      expectBad({ retry: { maxAttempts } }, 'retry.maxAttempts');
    },
  );

  it('rejects bad retry delays and unknown retry fields', () => {
    expectBad({ retry: 3 }, 'retry');
    expectBad({ retry: null }, 'retry');
    expectBad({ retry: { maxAttempts: 3, baseDelayMillis: -1 } }, 'retry.baseDelayMillis');
    expectBad({ retry: { maxAttempts: 3, baseDelayMillis: Number.NaN } }, 'retry.baseDelayMillis');
    expectBad({ retry: { maxAttempts: 3, baseDelayMillis: '10' } }, 'retry.baseDelayMillis');
    expectBad({ retry: { maxAttempts: 3, maxDelayMillis: -5 } }, 'retry.maxDelayMillis');
    expectBad({ retry: { maxAttempts: 3, maxDelayMillis: Number.NaN } }, 'retry.maxDelayMillis');
    expectBad(
      { retry: { maxAttempts: 3, baseDelayMillis: 100, maxDelayMillis: 10 } },
      'retry.maxDelayMillis',
    );
    expectBad({ retry: { maxAttempts: 3, attempts: 3 } }, 'retry.attempts');
  });

  it('accepts retry with delays', () => {
    const retry = normalizeTxOptions(
      { retry: { maxAttempts: 4, baseDelayMillis: 5, maxDelayMillis: 50 } },
      'callback',
    ).retry;
    expect(retry).toEqual({ maxAttempts: 4, baseDelayMillis: 5, maxDelayMillis: 50 });
  });

  it.each([
    ['a; drop table x'],
    ["app.tenant'"],
    ['app tenant'],
    [''],
    ['.app'],
    ['app.'],
    ['app..tenant'],
    ['1app'],
    ['app.1tenant'],
    ['app-tenant'],
    ['app."tenant"'],
    ['app.tenant;'],
    ['app.tenant--'],
  ])('rejects the setting name %j', (name) => {
    expectBad({ settings: { [name]: '1' } }, `settings.${name}`);
  });

  it.each([[42], [null], [true], [{}], [['42']], [undefined], ['4\u00002'], ['\u0000']])(
    'rejects the setting value %j',
    (value) => {
      expectBad({ settings: { 'app.tenant_id': value } }, 'settings.app.tenant_id');
    },
  );

  it('rejects settings that are not an object of strings', () => {
    expectBad({ settings: 'app.tenant_id=42' }, 'settings');
    expectBad({ settings: null }, 'settings');
    expectBad({ settings: [['app.tenant_id', '42']] }, 'settings');
  });

  it('accepts setting names made of identifier parts joined by "."', () => {
    const names = ['statement_timeout', 'app.tenant_id', 'my_app.user.id', '_x', 'App.Tenant2', 'a$b.c'];
    const settings = Object.fromEntries(names.map((name) => [name, 'v']));
    const normalized = normalizeTxOptions({ settings }, 'callback');
    expect(normalized.settingParams).toEqual(names.flatMap((name) => [name, 'v']));
  });

  it('a bad option is reported even when other options are fine', () => {
    expectBad({ isolation: 'serializable', readOnly: true, timeoutMillis: 0 }, 'timeoutMillis');
    expectBad({ isolation: 'serializable', settings: { 'x; y': '1' } }, 'settings.x; y');
  });

  it('savepoints take no options', () => {
    expect(() => checkSavepointOptions(undefined)).not.toThrow();
    expect(() => checkSavepointOptions({})).not.toThrow();
    expect(() => checkSavepointOptions({ isolation: 'serializable' })).toThrow(ConfigError);
    try {
      checkSavepointOptions({ readOnly: true });
    } catch (err) {
      expect(err).toMatchObject({ code: 'INVALID_CONFIG', field: 'readOnly' });
    }
    expect(() => checkSavepointOptions('serializable')).toThrow(ConfigError);
  });
});

describe('transaction options: the BEGIN statement', () => {
  it.each<[TransactionOptions | undefined, string]>([
    [undefined, 'BEGIN'],
    [{}, 'BEGIN'],
    [{ readOnly: false }, 'BEGIN'],
    [{ isolation: 'read committed' }, 'BEGIN ISOLATION LEVEL READ COMMITTED'],
    [{ isolation: 'repeatable read' }, 'BEGIN ISOLATION LEVEL REPEATABLE READ'],
    [{ isolation: 'serializable' }, 'BEGIN ISOLATION LEVEL SERIALIZABLE'],
    [{ readOnly: true }, 'BEGIN READ ONLY'],
    [{ isolation: 'repeatable read', readOnly: true }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'],
    [
      { isolation: 'serializable', readOnly: true, deferrable: true },
      'BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE',
    ],
    [{ timeoutMillis: 100, settings: { 'app.x': '1' } }, 'BEGIN'],
  ])('%j → %s', (options, begin) => {
    expect(normalizeTxOptions(options, 'callback').begin).toBe(begin);
  });

  it('binds settings as parameters of set_config(name, value, true); nothing is spliced into the SQL', () => {
    const value = "'; drop table x; --";
    const normalized = normalizeTxOptions(
      { settings: { 'app.tenant_id': '42', statement_timeout: '5s', 'app.note': value } },
      'callback',
    );
    expect(normalized.settingsSql).toBe(
      'SELECT set_config($1, $2, true), set_config($3, $4, true), set_config($5, $6, true)',
    );
    expect(normalized.settingParams).toEqual([
      'app.tenant_id',
      '42',
      'statement_timeout',
      '5s',
      'app.note',
      value,
    ]);
    expect(normalized.settingsSql).not.toContain('app.');
    expect(normalized.begin).toBe('BEGIN');
  });

  it('has no settings statement without settings, or with an empty settings object', () => {
    expect(normalizeTxOptions({}, 'callback').settingsSql).toBeUndefined();
    expect(normalizeTxOptions({ settings: {} }, 'callback').settingsSql).toBeUndefined();
  });

  it('returns frozen settings', () => {
    const normalized = normalizeTxOptions(
      { isolation: 'serializable', retry: { maxAttempts: 2 }, settings: { 'app.a': 'b' } },
      'callback',
    );
    expect(Object.isFrozen(normalized)).toBe(true);
    expect(Object.isFrozen(normalized.retry)).toBe(true);
    expect(Object.isFrozen(normalized.settingParams)).toBe(true);
  });
});

describe('bad transaction options reject before anything is sent', () => {
  // A listener that only counts connection attempts: if the pool tried to reach the server, we would know.
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

  it.each<[string, unknown, string]>([
    ['unknown isolation', { isolation: 'snapshot' }, 'isolation'],
    ['deferrable without serializable + readOnly', { deferrable: true }, 'deferrable'],
    ['a non-positive timeout', { timeoutMillis: 0 }, 'timeoutMillis'],
    ['a NaN timeout', { timeoutMillis: Number.NaN }, 'timeoutMillis'],
    ['bad retry fields', { retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
    ['a setting name with SQL in it', { settings: { 'a; drop table x': '1' } }, 'settings.a; drop table x'],
    ['a setting value that is not a string', { settings: { 'app.tenant_id': 42 } }, 'settings.app.tenant_id'],
  ])('%s', async (_, options, field) => {
    const pool = createPool({
      host: '127.0.0.1',
      port,
      user: 'nobody',
      database: 'nowhere',
      acquireTimeoutMillis: 200,
      connectTimeoutMillis: 200,
      logger: pino({ level: 'silent' }),
    });
    try {
      let ran = false;
      const started = performance.now();
      const callback = pool.transaction(async () => {
        ran = true;
      }, options as TransactionOptions);
      await expect(callback).rejects.toBeInstanceOf(ConfigError);
      await expect(callback).rejects.toMatchObject({ code: 'INVALID_CONFIG', field });
      // The await using form refuses retry itself before looking inside it.
      await expect(pool.transaction(options as TransactionOptions)).rejects.toMatchObject({
        code: 'INVALID_CONFIG',
        field: 'retry' in (options as object) ? 'retry' : field,
      });
      expect(performance.now() - started).toBeLessThan(100);
      expect(ran).toBe(false);
      expect(connections).toBe(0);
      expect(pool.stats()).toMatchObject({ acquired: 0, created: 0, borrowed: 0 });
    } finally {
      await pool.close();
    }
  });

  it('retry on the await using form', async () => {
    const pool = createPool({
      host: '127.0.0.1',
      port,
      acquireTimeoutMillis: 200,
      logger: pino({ level: 'silent' }),
    });
    try {
      await expect(pool.transaction({ retry: { maxAttempts: 3 } })).rejects.toMatchObject({
        code: 'INVALID_CONFIG',
        field: 'retry',
      });
      expect(connections).toBe(0);
      expect(pool.stats().acquired).toBe(0);
    } finally {
      await pool.close();
    }
  });
});

describe("settings restricted by the pool's allowedSettings", () => {
  const allowed = normalizePoolConfig({ allowedSettings: ['app.', 'statement_timeout'] }).allowedSettings;

  it('lets through exact names and names under a prefix, whatever their case', () => {
    const settings = {
      'app.tenant_id': '1',
      'APP.User': 'ann',
      statement_timeout: '1s',
      STATEMENT_TIMEOUT: '2s',
    };
    expect(normalizeTxOptions({ settings }, 'callback', allowed).settingParams).toHaveLength(8);
  });

  it('refuses any other name with a ConfigError naming the setting and the allowed entries', () => {
    for (const name of [
      'role',
      'ROLE',
      'session_authorization',
      'search_path',
      'app',
      'application.x',
      'statement_timeouts',
    ]) {
      let thrown: unknown;
      try {
        normalizeTxOptions({ settings: { 'app.tenant_id': '1', [name]: 'x' } }, 'using', allowed);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, name).toBeInstanceOf(ConfigError);
      expect(thrown).toMatchObject({ field: `settings.${name}` });
      expect((thrown as Error).message).toContain("allowed: 'app.', 'statement_timeout'");
    }
  });

  it('[] allows no setting; unset allows every one', () => {
    const none = normalizePoolConfig({ allowedSettings: [] }).allowedSettings;
    expect(() => normalizeTxOptions({ settings: { 'app.x': '1' } }, 'callback', none)).toThrow(
      /allowed: none/,
    );
    expect(normalizeTxOptions({}, 'callback', none).settingParams).toEqual([]);
    expect(normalizeTxOptions({ settings: { role: 'x' } }, 'callback', undefined).settingParams).toEqual([
      'role',
      'x',
    ]);
  });
});
