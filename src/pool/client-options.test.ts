import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { checkClientStrings, sealClientConfig } from './client-options.js';
import { normalizePoolConfig } from './pool-options.js';

const SECRET = 'Pw-7f3b9-SECRET';
const URL_SECRET = 'Url-Pw-SECRET';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** Every way a ConfigError can be printed. */
function printed(err: ConfigError): string {
  return [err.message, err.field, err.stack, JSON.stringify(err), inspect(err, { showHidden: true })].join(
    '\n',
  );
}

describe('checkClientStrings', () => {
  it.each([
    'application_name',
    'fallback_application_name',
    'user',
    'database',
    'host',
    'options',
    'password',
    'connectionString',
    'client_encoding',
    'statement_timeout',
  ])('refuses a NUL character in %s, naming the field without the value', (field) => {
    const err = configError(() => checkClientStrings({ [field]: `tenant-a\0search_path\0${SECRET}` }));
    expect(err.field).toBe(field);
    expect(err.message).toContain('NUL');
    expect(printed(err)).not.toContain(SECRET);
  });

  it('refuses a NUL in one of several hosts, naming its index', () => {
    const err = configError(() => checkClientStrings({ host: ['db1', 'db2\0x'] }));
    expect(err.field).toBe('host[1]');
  });

  it('refuses a percent-encoded NUL in a connection string', () => {
    const err = configError(() =>
      checkClientStrings({
        connectionString: `postgres://u:${SECRET}@h/d?application_name=a%00search_path%00x`,
      }),
    );
    expect(err.field).toBe('connectionString');
    expect(printed(err)).not.toContain(SECRET);
  });

  it.each(['host', 'user', 'database', 'application_name', 'fallback_application_name'])(
    'refuses a connection string in %s without quoting it',
    (field) => {
      const err = configError(() => checkClientStrings({ [field]: `postgres://app:${SECRET}@db/app` }));
      expect(err.field).toBe(field);
      expect(err.message).toContain('connectionString');
      expect(printed(err)).not.toContain(SECRET);
    },
  );

  it('accepts ordinary values', () => {
    expect(() =>
      checkClientStrings({
        host: ['db1', 'db2'],
        application_name: 'svc',
        password: 'p://w',
        connectionString: 'postgres://u:p@h/d',
        port: 5432,
        ssl: { rejectUnauthorized: false },
      }),
    ).not.toThrow();
  });

  it('runs from normalizePoolConfig', () => {
    expect(configError(() => normalizePoolConfig({ application_name: 'a\0b' })).field).toBe(
      'application_name',
    );
  });
});

describe('the sealed client configuration', () => {
  const ssl = { rejectUnauthorized: false, passphrase: SECRET, key: 'KEY-MATERIAL' };
  const sealed = sealClientConfig({
    connectionString: `postgres://app:${URL_SECRET}@db/app?password=${URL_SECRET}Q`,
    password: SECRET,
    host: 'db',
    ssl,
  });

  it('keeps the password and connection string out of its own properties, JSON and inspect output', () => {
    expect(Object.keys(sealed)).toEqual(['host', 'ssl']);
    const everything = [
      JSON.stringify(sealed),
      JSON.stringify({ settings: sealed }),
      inspect(sealed, { showHidden: true, depth: 5 }),
      inspect(sealed, { showHidden: true, getters: true, depth: 5 }),
    ].join('\n');
    expect(everything).not.toContain('SECRET');
    expect(everything).not.toContain('KEY-MATERIAL');
    expect(JSON.parse(JSON.stringify(sealed))).toEqual({
      host: 'db',
      ssl: { rejectUnauthorized: false, passphrase: '[redacted]', key: '[redacted]' },
      connectionString: '[redacted]',
      password: '[redacted]',
    });
    expect(Object.isFrozen(sealed)).toBe(true);
  });

  it('gives the driver every field, the secrets included, in a fresh object', () => {
    const config = sealed.driverConfig();
    expect(config).toEqual({
      host: 'db',
      ssl,
      password: SECRET,
      connectionString: `postgres://app:${URL_SECRET}@db/app?password=${URL_SECRET}Q`,
    });
    expect(config.ssl).toBe(ssl);
    expect(sealed.driverConfig()).not.toBe(config);
  });

  it('lists the secrets a redactor needs, including the password inside the URL', () => {
    expect(sealed.secrets()).toEqual(
      expect.arrayContaining([SECRET, sealed.connectionString, URL_SECRET, `${URL_SECRET}Q`]),
    );
    expect(sealClientConfig({ connectionString: 'postgres://u:p%40ss@h/d' }).secrets()).toContain('p@ss');
    expect(sealClientConfig({}).secrets()).toEqual([]);
  });
});
