import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { createPool } from '../index.js';
import { describeValue } from '../util/option-checks.js';
import type { PoolConfig } from './pool-config.js';
import { normalizePoolConfig } from './pool-options.js';

/** Calls `createPool(config)` and returns what it threw; fails the test when it did not throw. */
function configErrorOf(config: unknown): ConfigError {
  let thrown: unknown;
  try {
    const pool = createPool(config as PoolConfig);
    void pool.close();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `createPool(${String(config)}) should throw`).toBeInstanceOf(ConfigError);
  return thrown as ConfigError;
}

type Case = readonly [field: string, value: unknown];

/** Bad values of every pool option; each must be refused with a ConfigError naming the field. */
const BAD_VALUES: readonly Case[] = [
  ['max', 0],
  ['max', -1],
  ['max', 1.5],
  ['max', Number.NaN],
  ['max', Number.POSITIVE_INFINITY],
  ['max', '10'],
  ['max', true],
  ['min', -1],
  ['min', 0.5],
  ['min', Number.NaN],
  ['min', Number.POSITIVE_INFINITY],
  ['min', '0'],
  ['acquireTimeoutMillis', -1],
  ['acquireTimeoutMillis', Number.NaN],
  ['acquireTimeoutMillis', Number.NEGATIVE_INFINITY],
  ['acquireTimeoutMillis', '1000'],
  ['acquireTimeoutMillis', {}],
  ['maxWaiting', -1],
  ['maxWaiting', 2.5],
  ['maxWaiting', Number.NaN],
  ['maxWaiting', '5'],
  ['idleTimeoutMillis', 0],
  ['idleTimeoutMillis', -100],
  ['idleTimeoutMillis', Number.NaN],
  ['idleTimeoutMillis', '30s'],
  ['maxLifetimeMillis', 0],
  ['maxLifetimeMillis', -1],
  ['maxLifetimeMillis', Number.NaN],
  ['maxLifetimeMillis', Number.NEGATIVE_INFINITY],
  ['maxLifetimeMillis', 'forever'],
  ['connectTimeoutMillis', 0],
  ['connectTimeoutMillis', -1],
  ['connectTimeoutMillis', Number.NaN],
  ['connectTimeoutMillis', '10000'],
  ['connectionTimeoutMillis', -1],
  ['connectionTimeoutMillis', Number.NaN],
  ['leakDetectionMillis', -1],
  ['leakDetectionMillis', Number.NaN],
  ['leakDetectionMillis', Number.POSITIVE_INFINITY],
  ['leakDetectionMillis', '5000'],
  ['slowAcquireMillis', 0],
  ['slowAcquireMillis', -5],
  ['slowAcquireMillis', Number.NaN],
  ['statementTimeoutMillis', 0],
  ['statementTimeoutMillis', -1],
  ['statementTimeoutMillis', 1.5],
  ['statementTimeoutMillis', Number.NaN],
  ['statementTimeoutMillis', Number.POSITIVE_INFINITY],
  ['statementTimeoutMillis', '5s'],
  ['logger', {}],
  ['logger', 'pino'],
  ['logger', console],
  ['logger', () => undefined],
  ['onConnect', 'SET search_path = app'],
  ['onConnect', {}],
  ['onConnect', true],
  ['resetOnRelease', 'DISCARD ALL'],
  ['resetOnRelease', 'Rollback'],
  ['resetOnRelease', 'none'],
  ['resetOnRelease', true],
  ['resetOnRelease', 1],
  ['nestedAcquire', 'throw'],
  ['nestedAcquire', 'ERROR'],
  ['nestedAcquire', false],
  ['nestedAcquire', ''],
  ['allowExitOnIdle', 'true'],
  ['allowExitOnIdle', 1],
  ['allowExitOnIdle', 0],
  ['allowExitOnIdle', null],
  ['allowExitOnIdle', {}],
  ['prepare', 'true'],
  ['prepare', 1],
  ['prepare', null],
  ['statementCacheSize', 0],
  ['statementCacheSize', -1],
  ['statementCacheSize', 2.5],
  ['statementCacheSize', Number.NaN],
  ['statementCacheSize', Number.POSITIVE_INFINITY],
  ['statementCacheSize', '256'],
  ['resolveCommitOutcome', 'true'],
  ['resolveCommitOutcome', 1],
  ['resolveCommitOutcome', 0],
  ['resolveCommitOutcome', null],
  ['resolveCommitOutcome', 'off'],
  ['pipeline', true],
];

/** Unknown keys that are likely typos of an option; each must be refused with a ConfigError naming the key. */
const TYPOS: readonly string[] = [
  'maxx',
  'mx',
  'minn',
  'idleTimeoutMilis',
  'aquireTimeoutMillis',
  'maxWaitng',
  'maxLifeTimeMilis',
  'connectTimeoutMilis',
  'connectionTimeoutMilis',
  'leakDetectionMilis',
  'statementTimeoutMilis',
  'resetOnRelase',
  'nestedAquire',
  'onconect',
  'allowExitOnIdel',
  'alowExitOnIdle',
  'allowExitOnIddle',
  'applicationName',
  'statementTimeout',
  'conectionString',
  'pasword',
];

describe('pool options', () => {
  describe('bad values are refused by createPool with ConfigError naming the field', () => {
    it.each(BAD_VALUES)('%s = %s', (field, value) => {
      const err = configErrorOf({ [field]: value });
      expect(err.code).toBe('INVALID_CONFIG');
      expect(err.name).toBe('ConfigError');
      expect(err.field).toBe(field);
      expect(err.message).toContain(field);
    });
  });

  describe('unknown keys that look like a typo are refused, naming the key', () => {
    it.each(TYPOS)('%s', (key) => {
      const err = configErrorOf({ [key]: 5 });
      expect(err.code).toBe('INVALID_CONFIG');
      expect(err.field).toBe(key);
    });

    it('suggests the option that was probably meant', () => {
      expect(configErrorOf({ maxx: 5 }).message).toContain("'max'");
      expect(configErrorOf({ idleTimeoutMilis: 5 }).message).toContain("'idleTimeoutMillis'");
    });
  });

  describe('min and max', () => {
    it('refuses min above max, naming min', () => {
      const err = configErrorOf({ min: 5, max: 2 });
      expect(err.field).toBe('min');
      expect(err.code).toBe('INVALID_CONFIG');
    });

    it('refuses min above the default max of 10', () => {
      expect(configErrorOf({ min: 11 }).field).toBe('min');
    });

    it('accepts min equal to max', () => {
      expect(normalizePoolConfig({ min: 3, max: 3 })).toMatchObject({ min: 3, max: 3 });
    });
  });

  it('refuses a configuration that is not an object', () => {
    for (const config of ['postgres://localhost/db', 42, null, [], true]) {
      const err = configErrorOf(config);
      expect(err.field).toBe('config');
      expect(err.code).toBe('INVALID_CONFIG');
    }
  });

  it('never echoes a secret or a long value in the message', () => {
    const secret = 'x'.repeat(60);
    const err = configErrorOf({ resetOnRelease: secret });
    expect(err.message).not.toContain(secret);
  });

  describe('good values', () => {
    it('fills in the documented defaults, finite everywhere', () => {
      const settings = normalizePoolConfig({});
      expect(settings).toMatchObject({
        max: 10,
        min: 0,
        acquireTimeoutMillis: 10_000,
        maxWaiting: 10_000,
        idleTimeoutMillis: 30_000,
        maxLifetimeMillis: 1_800_000,
        connectTimeoutMillis: 10_000,
        leakDetectionMillis: 0,
        statementTimeoutMillis: undefined,
        logger: undefined,
        onConnect: undefined,
        resetOnRelease: 'rollback',
        nestedAcquire: 'warn',
        allowExitOnIdle: false,
        resolveCommitOutcome: true,
      });
      for (const key of [
        'max',
        'acquireTimeoutMillis',
        'maxWaiting',
        'idleTimeoutMillis',
        'maxLifetimeMillis',
        'connectTimeoutMillis',
      ] as const) {
        expect(Number.isFinite(settings[key]), key).toBe(true);
      }
      expect(normalizePoolConfig(undefined)).toMatchObject({ max: 10, acquireTimeoutMillis: 10_000 });
    });

    it('treats an option given as undefined as not given', () => {
      expect(normalizePoolConfig({ max: undefined, resetOnRelease: undefined })).toMatchObject({
        max: 10,
        resetOnRelease: 'rollback',
      });
    });

    it('accepts Infinity where waiting forever is asked for explicitly', () => {
      const settings = normalizePoolConfig({
        acquireTimeoutMillis: Number.POSITIVE_INFINITY,
        maxWaiting: Number.POSITIVE_INFINITY,
        idleTimeoutMillis: Number.POSITIVE_INFINITY,
        maxLifetimeMillis: Number.POSITIVE_INFINITY,
        connectTimeoutMillis: Number.POSITIVE_INFINITY,
      });
      expect(settings).toMatchObject({
        acquireTimeoutMillis: Number.POSITIVE_INFINITY,
        maxWaiting: Number.POSITIVE_INFINITY,
        idleTimeoutMillis: Number.POSITIVE_INFINITY,
        maxLifetimeMillis: Number.POSITIVE_INFINITY,
        connectTimeoutMillis: Number.POSITIVE_INFINITY,
      });
      // pg spells "no connect timeout" as 0.
      expect(settings.clientConfig.connectionTimeoutMillis).toBe(0);
    });

    it('accepts 0 where it means something: fail-fast acquire, no queue, no leak detection', () => {
      expect(
        normalizePoolConfig({ acquireTimeoutMillis: 0, maxWaiting: 0, leakDetectionMillis: 0 }),
      ).toMatchObject({ acquireTimeoutMillis: 0, maxWaiting: 0, leakDetectionMillis: 0 });
    });

    it('accepts every allowed resetOnRelease and nestedAcquire value', () => {
      for (const resetOnRelease of ['rollback', 'discard'] as const) {
        expect(normalizePoolConfig({ resetOnRelease }).resetOnRelease).toBe(resetOnRelease);
      }
      for (const nestedAcquire of ['warn', 'error', 'allow'] as const) {
        expect(normalizePoolConfig({ nestedAcquire }).nestedAcquire).toBe(nestedAcquire);
      }
    });

    it("accepts allowExitOnIdle true or false, keeps it out of pg's config, and names the allowed values", () => {
      for (const allowExitOnIdle of [true, false]) {
        const settings = normalizePoolConfig({ allowExitOnIdle });
        expect(settings.allowExitOnIdle).toBe(allowExitOnIdle);
        expect(settings.clientConfig).not.toHaveProperty('allowExitOnIdle');
      }
      expect(configErrorOf({ allowExitOnIdle: 'yes' }).message).toContain('expected true or false');
    });

    it("prepare (default false) and statementCacheSize (default 256, from 1): edges, kept out of pg's config", () => {
      expect(normalizePoolConfig({})).toMatchObject({ prepare: false, statementCacheSize: 256 });
      const settings = normalizePoolConfig({ prepare: true, statementCacheSize: 1 });
      expect(settings).toMatchObject({ prepare: true, statementCacheSize: 1 });
      expect(settings.clientConfig).not.toHaveProperty('prepare');
      expect(settings.clientConfig).not.toHaveProperty('statementCacheSize');
      expect(normalizePoolConfig({ statementCacheSize: Number.MAX_SAFE_INTEGER }).statementCacheSize).toBe(
        Number.MAX_SAFE_INTEGER,
      );
      expect(configErrorOf({ prepare: 'yes' }).message).toContain('expected true or false');
      expect(configErrorOf({ statementCacheSize: 0 }).message).toMatch(/statementCacheSize.*integer from 1/);
      expect(configErrorOf({ statementCachSize: 10 }).message).toContain("did you mean 'statementCacheSize'");
    });

    it("accepts resolveCommitOutcome true or false, keeps it out of pg's config, and names the allowed values", () => {
      for (const resolveCommitOutcome of [true, false]) {
        const settings = normalizePoolConfig({ resolveCommitOutcome });
        expect(settings.resolveCommitOutcome).toBe(resolveCommitOutcome);
        expect(settings.clientConfig).not.toHaveProperty('resolveCommitOutcome');
      }
      const err = configErrorOf({ resolveCommitOutcome: 'yes' });
      expect(err.field).toBe('resolveCommitOutcome');
      expect(err.message).toContain('expected true or false');
      expect(configErrorOf({ resolveCommitOutcom: true }).message).toContain(
        "did you mean 'resolveCommitOutcome'",
      );
    });

    it("name: the pool's own name, kept out of pg's config; the default is decided by the pool", () => {
      expect(normalizePoolConfig({}).name).toBeUndefined();
      expect(normalizePoolConfig({ name: 'orders' }).name).toBe('orders');
      expect(normalizePoolConfig({ name: 'x'.repeat(256) }).name).toHaveLength(256);
      expect(normalizePoolConfig({ name: 'orders' }).clientConfig).not.toHaveProperty('name');
      expect(createPool({ name: 'orders', application_name: 'app' }).name).toBe('orders');
      expect(createPool({ application_name: 'app' }).name).toBe('app');
      expect(createPool({ connectionString: 'postgres://h/db?application_name=fromurl' }).name).toBe(
        'fromurl',
      );
      expect(createPool().name).toBe('pg-scope');
    });

    it('name: an empty, too long or non-string name is a ConfigError naming the field and what is allowed', () => {
      for (const name of ['', 'x'.repeat(257), 42, null, ['a'], { toString: () => 'a' }]) {
        const err = configErrorOf({ name });
        expect(err.field).toBe('name');
        expect(err.message).toContain('a non-empty string of at most 256 characters');
      }
    });

    it("allowedSettings: names and prefixes, checked, lower-cased, frozen, kept out of pg's config", () => {
      expect(normalizePoolConfig({}).allowedSettings).toBeUndefined();
      const settings = normalizePoolConfig({ allowedSettings: ['app.', 'Statement_Timeout', 'my.ns.'] });
      expect(settings.allowedSettings?.entries).toEqual(['app.', 'Statement_Timeout', 'my.ns.']);
      expect([...(settings.allowedSettings?.names ?? [])]).toEqual(['statement_timeout']);
      expect(settings.allowedSettings?.prefixes).toEqual(['app.', 'my.ns.']);
      expect(Object.isFrozen(settings.allowedSettings)).toBe(true);
      expect(settings.clientConfig).not.toHaveProperty('allowedSettings');
      expect(normalizePoolConfig({ allowedSettings: [] }).allowedSettings?.entries).toEqual([]);
    });

    it('allowedSettings: a bad list or entry is a ConfigError naming it and what is allowed, never its text', () => {
      const cases: [unknown, string][] = [
        ['app.', 'allowedSettings'],
        [{ 'app.': true }, 'allowedSettings'],
        [null, 'allowedSettings'],
        [new Set(['app.']), 'allowedSettings'],
        [['app.', 42], 'allowedSettings[1]'],
        [[''], 'allowedSettings[0]'],
        [['app..'], 'allowedSettings[0]'],
        [['.app'], 'allowedSettings[0]'],
        [['app.*'], 'allowedSettings[0]'],
        [['role; drop'], 'allowedSettings[0]'],
        [['x'.repeat(300)], 'allowedSettings[0]'],
      ];
      for (const [value, field] of cases) {
        const err = configErrorOf({ allowedSettings: value });
        expect(err.field).toBe(field);
        expect(err.message).toContain(
          "setting names ('statement_timeout') and prefixes ending in '.' ('app.')",
        );
        expect(err.message).not.toContain('drop');
      }
    });

    it('accepts a pino logger and an onConnect function', () => {
      const logger = pino({ level: 'silent' });
      const onConnect = async () => {};
      expect(normalizePoolConfig({ logger, onConnect })).toMatchObject({ logger, onConnect });
    });

    it('freezes the result', () => {
      const settings = normalizePoolConfig({ max: 3 });
      expect(Object.isFrozen(settings)).toBe(true);
      expect(Object.isFrozen(settings.clientConfig)).toBe(true);
    });

    it("passes pg's ClientConfig fields through unchanged and keeps the pool's own out of it", () => {
      const ssl = { rejectUnauthorized: false };
      const settings = normalizePoolConfig({
        connectionString: 'postgres://u@h:5433/d?application_name=from-url',
        host: 'db.internal',
        port: 5433,
        user: 'app',
        password: 'secret',
        database: 'appdb',
        application_name: 'my-service',
        ssl,
        keepAlive: true,
        max: 4,
        min: 1,
        resetOnRelease: 'discard',
        statementTimeoutMillis: 5_000,
        connectTimeoutMillis: 2_500,
      });
      expect(settings.clientConfig).toMatchObject({
        connectionString: 'postgres://u@h:5433/d?application_name=from-url',
        host: 'db.internal',
        port: 5433,
        user: 'app',
        password: 'secret',
        database: 'appdb',
        application_name: 'my-service',
        keepAlive: true,
        // The pool's timeouts reach pg under pg's names.
        connectionTimeoutMillis: 2_500,
        statement_timeout: 5_000,
      });
      expect(settings.clientConfig.ssl).toBe(ssl);
      for (const own of ['max', 'min', 'resetOnRelease', 'statementTimeoutMillis', 'connectTimeoutMillis']) {
        expect(settings.clientConfig).not.toHaveProperty(own);
      }
    });

    it("takes pg's connectionTimeoutMillis as the connect timeout when connectTimeoutMillis is not given", () => {
      expect(normalizePoolConfig({ connectionTimeoutMillis: 1_234 })).toMatchObject({
        connectTimeoutMillis: 1_234,
        clientConfig: { connectionTimeoutMillis: 1_234 },
      });
    });

    it('lets through an unknown key that is no likely typo (it may be a newer pg field)', () => {
      expect(() => normalizePoolConfig({ someFutureDriverFlag: true } as PoolConfig)).not.toThrow();
    });

    it('createPool with good values opens nothing until asked', async () => {
      const pool = createPool({
        host: '127.0.0.1',
        port: 1,
        max: 2,
        acquireTimeoutMillis: Number.POSITIVE_INFINITY,
      });
      expect(pool.stats()).toMatchObject({ max: 2, size: 0, created: 0 });
      await pool.close();
    });
  });
});

describe('describeValue', () => {
  it('describes strings by length only, never by content', () => {
    expect(describeValue('postgres://app:PW@db/app')).toBe('a string of 24 characters');
    expect(describeValue('x')).toBe('a string of 1 character');
    expect(describeValue('')).toBe('an empty string');
    expect(describeValue('short')).not.toContain('short');
  });

  it('describes other values by type', () => {
    expect(describeValue(3)).toBe('3');
    expect(describeValue(true)).toBe('true');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue([1])).toBe('an array');
    expect(describeValue({ a: 1 })).toBe('an object');
    expect(describeValue(() => 1)).toBe('a function');
    expect(describeValue(Symbol('s'))).toBe('a symbol');
    expect(describeValue(10n)).toBe('a bigint');
  });
});
