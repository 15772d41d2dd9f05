import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createPool, type PoolConfig } from '../src/index.js';
import { createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';
import { appName, captureLog } from './support/pool-test-kit.js';

const SECRET = 'Cfg-S3cret-PW-91';
const URL_WITH_SECRET = `postgres://app:${SECRET}@db.internal:5432/app`;

function printed(err: ConfigError): string {
  return [
    err.message,
    err.field,
    String(err.stack),
    JSON.stringify(err),
    JSON.stringify({ err }),
    inspect(err, { depth: 8, showHidden: true }),
  ].join('\n');
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

async function configRejection(run: () => Promise<unknown>): Promise<ConfigError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('ConfigErrors for a secret in the wrong place never quote it', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('createPool given a connection string instead of options', () => {
    const err = configError(() => createPool(URL_WITH_SECRET as unknown as PoolConfig));
    expect(err.field).toBe('config');
    expect(err.message).toContain(`a string of ${URL_WITH_SECRET.length} characters`);
    expect(err.message).toContain('connectionString');
    expect(printed(err)).not.toContain(SECRET);
  });

  it.each([
    ['application_name', { application_name: URL_WITH_SECRET }],
    ['fallback_application_name', { fallback_application_name: URL_WITH_SECRET }],
    ['host', { host: URL_WITH_SECRET }],
    ['host[1]', { host: ['127.0.0.1', URL_WITH_SECRET] }],
    ['user', { user: URL_WITH_SECRET }],
    ['database', { database: URL_WITH_SECRET }],
    ['max', { max: URL_WITH_SECRET }],
    ['acquireTimeoutMillis', { acquireTimeoutMillis: URL_WITH_SECRET }],
    ['resetOnRelease', { resetOnRelease: URL_WITH_SECRET }],
    ['nestedAcquire', { nestedAcquire: URL_WITH_SECRET }],
    ['logger', { logger: URL_WITH_SECRET }],
    ['onConnect', { onConnect: URL_WITH_SECRET }],
  ])('a URL in %s', (field, config) => {
    const err = configError(() => createPool({ ...db.config, ...(config as PoolConfig) }));
    expect(err.field).toBe(field);
    expect(printed(err)).not.toContain(SECRET);
  });

  it('a URL in acquire, transaction and savepoint options, and as a setting name or value', async () => {
    await using pool = createPool({ connectionString: db.url, logger: captureLog('silent').logger });
    const errors = [
      await configRejection(() => pool.acquire({ timeoutMillis: URL_WITH_SECRET as never })),
      await configRejection(() => pool.acquire({ signal: URL_WITH_SECRET as never })),
      await configRejection(() => pool.transaction({ isolation: URL_WITH_SECRET as never })),
      await configRejection(() => pool.transaction({ readOnly: URL_WITH_SECRET as never })),
      await configRejection(() => pool.transaction({ propagation: URL_WITH_SECRET as never })),
      await configRejection(() => pool.transaction({ retry: URL_WITH_SECRET as never })),
      await configRejection(() =>
        pool.transaction(async () => {}, { retry: { maxAttempts: URL_WITH_SECRET as never } }),
      ),
      await configRejection(() => pool.transaction({ settings: URL_WITH_SECRET as never })),
      await configRejection(() => pool.transaction({ settings: { 'app.url': 5 as never } })),
      // A URL as a setting name: the name is echoed (cut to 40 characters), its password never.
      await configRejection(() => pool.transaction({ settings: { [URL_WITH_SECRET]: '1' } })),
      await configRejection(() =>
        pool.transaction({ settings: { [`postgres://app:${SECRET}${SECRET}@h`]: '1' } }),
      ),
      await configRejection(() => pool.transaction((tx) => tx.transaction(URL_WITH_SECRET as never))),
      await configRejection(() => pool.close({ timeoutMillis: URL_WITH_SECRET as never })),
    ];
    for (const err of errors) expect(printed(err)).not.toContain(SECRET.slice(0, 8));
    expect(errors.map((e) => e.field)).toContain('isolation');
  });
});

describe('a NUL character in the client configuration', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it.each([
    'application_name',
    'fallback_application_name',
    'user',
    'database',
    'host',
    'options',
    'password',
    'connectionString',
  ])('in %s is a ConfigError naming the field, and nothing reaches the server', async (field) => {
    const app = appName('nul');
    const injected = `tenant-a\0search_path\0evil_${SECRET}`;
    const value = field === 'connectionString' ? `${db.url}?application_name=${app}\0x` : injected;
    const err = configError(() =>
      createPool({ ...db.config, application_name: app, [field]: value, min: 1 } as PoolConfig),
    );
    expect(err.field).toBe(field);
    expect(err.message).toContain('NUL');
    expect(printed(err)).not.toContain(SECRET);
    expect(await waitForConnections(db.name, 0, { applicationName: app, timeoutMillis: 200 })).toBe(0);
  });

  it('percent-encoded in a connection string parameter is a ConfigError too', () => {
    const err = configError(() =>
      createPool({ connectionString: `${db.url}?application_name=tenant-a%00search_path%00evil` }),
    );
    expect(err.field).toBe('connectionString');
  });

  it('an ordinary application_name still reaches the server unchanged', async () => {
    const app = appName('plain');
    await using pool = createPool({
      ...db.config,
      application_name: app,
      logger: captureLog('silent').logger,
    });
    const { rows } = await pool.query<{ name: string; path: string }>(
      "select current_setting('application_name') as name, current_setting('search_path') as path",
    );
    expect(rows[0]).toEqual({ name: app, path: '"$user", public' });
  });
});
