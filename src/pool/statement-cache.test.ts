import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { isStaleStatementError } from './stale-errors.js';
import { StatementCache } from './statement-cache.js';
import { StatementPolicy, statementName } from './statement-policy.js';

/** What the fake client was asked to run: the config, and the Close messages sent with it. */
interface Sent {
  config: pg.QueryConfig | string;
  closes: string[];
}

/**
 * A stand-in for pg.Client: records each query, answers it with `answer` (a result, or an error to reject
 * with), and keeps pg's record of parsed statements the way pg does (a name is recorded when its Parse
 * succeeds). A query submitted as a pg.Query (the Close carrier) is run through its `submit` on a fake
 * connection, so the Close messages it writes are seen.
 */
function fakeClient(answer: (config: pg.QueryConfig | string) => unknown = () => ({ rows: [] })) {
  const sent: Sent[] = [];
  const connection = { parsedStatements: {} as Record<string, string>, submittedNamedStatements: {} };
  const run = (config: pg.QueryConfig | string, closes: string[]): Promise<unknown> => {
    sent.push({ config, closes });
    const result = answer(config);
    if (result instanceof Error) return Promise.reject(result);
    if (typeof config !== 'string' && config.name) connection.parsedStatements[config.name] = config.text;
    return Promise.resolve(result);
  };
  const client = {
    connection,
    query(config: pg.QueryConfig | string | pg.Query) {
      if (config instanceof pg.Query) {
        const closes: string[] = [];
        const q = config as unknown as {
          submit: (c: unknown) => void;
          text: string;
          values: unknown[];
          name?: string;
          callback: (err: unknown, res?: unknown) => void;
        };
        q.submit({
          stream: {},
          close: (msg: { name: string }) => closes.push(msg.name),
          parse() {},
          bind() {},
          describe() {},
          execute() {},
          sync() {},
          parsedStatements: connection.parsedStatements,
          submittedNamedStatements: {},
        });
        const plain = q.name
          ? { text: q.text, values: q.values, name: q.name }
          : { text: q.text, values: q.values };
        run(plain, closes).then(
          (res) => q.callback(null, res),
          (err) => q.callback(err),
        );
        return undefined;
      }
      return run(config, []);
    },
  };
  return { client: client as unknown as pg.Client, sent, connection };
}

function dbError(code: string): Error {
  return Object.assign(new Error(`error ${code}`), { code });
}

const silent = pino({ level: 'silent' });

function nameOf(s: Sent | undefined): string | undefined {
  return typeof s?.config === 'string' ? undefined : s?.config.name;
}

describe('StatementCache', () => {
  it('names a query with values after its text; a hit is sent under the same name', async () => {
    const policy = new StatementPolicy(4, silent);
    const { client, sent } = fakeClient();
    const cache = new StatementCache(policy, client);
    await cache.query('select $1::int', [1], true);
    const arrayConfig: pg.QueryArrayConfig = { text: 'select $1::int', values: [2], rowMode: 'array' };
    await cache.query(arrayConfig, undefined, true);
    expect(sent.map(nameOf)).toEqual([statementName('select $1::int'), statementName('select $1::int')]);
    expect(sent[1]?.config).toMatchObject({ rowMode: 'array', values: [2] });
    expect(policy.stats()).toMatchObject({ hits: 1, misses: 1, prepared: 1 });
    expect(cache.size).toBe(1);
  });

  it('sends as they are: no values, empty values, a user-named statement, a rows-limited portal', async () => {
    const policy = new StatementPolicy(4, silent);
    const { client, sent } = fakeClient();
    const cache = new StatementCache(policy, client);
    await cache.query('select 1', undefined, true);
    await cache.query('select 1', [], true);
    await cache.query({ name: 'mine', text: 'select $1::int', values: [1] }, undefined, true);
    await cache.query({ text: 'select $1::int', values: [1], rows: 10 } as pg.QueryConfig, undefined, true);
    expect(sent.map(nameOf)).toEqual([undefined, undefined, 'mine', undefined]);
    expect(policy.stats()).toMatchObject({ hits: 0, misses: 0, prepared: 0 });
  });

  it('evicts the least recently used; the evicted name is closed with the next statement', async () => {
    const policy = new StatementPolicy(2, silent);
    const { client, sent, connection } = fakeClient();
    const cache = new StatementCache(policy, client);
    await cache.query('select $1::int as a', [1], true);
    await cache.query('select $1::int as b', [1], true);
    await cache.query('select $1::int as a', [1], true);
    await cache.query('select $1::int as c', [1], true);
    const last = sent.at(-1);
    expect(nameOf(last)).toBe(statementName('select $1::int as c'));
    expect(last?.closes).toEqual([statementName('select $1::int as b')]);
    expect(connection.parsedStatements).not.toHaveProperty(statementName('select $1::int as b'));
    expect(policy.stats()).toMatchObject({ prepared: 2, evictions: 1 });
    // b comes back: a miss again, evicting a (the least recently used now).
    await cache.query('select $1::int as b', [1], true);
    expect(sent.at(-1)?.closes).toEqual([statementName('select $1::int as a')]);
  });

  it('26000 on a hit outside a transaction: dropped, re-run once unnamed, counted as vanished', async () => {
    const policy = new StatementPolicy(4, silent);
    let fail = false;
    const { client, sent } = fakeClient((config) =>
      fail && typeof config !== 'string' && config.name ? dbError('26000') : { rows: [1] },
    );
    const cache = new StatementCache(policy, client);
    await cache.query('select $1::int', [1], true);
    fail = true;
    await expect(cache.query('select $1::int', [1], true)).resolves.toEqual({ rows: [1] });
    expect(sent.map(nameOf)).toEqual([
      statementName('select $1::int'),
      statementName('select $1::int'),
      undefined,
    ]);
    expect(policy.stats()).toMatchObject({ recoveries: 1, prepared: 0 });
    expect(cache.size).toBe(0);
  });

  it('0A000 on a hit inside a transaction: rejected with a stale-statement error; Close owed', async () => {
    const policy = new StatementPolicy(4, silent);
    let fail = false;
    const { client, sent } = fakeClient(() => (fail ? dbError('0A000') : { rows: [] }));
    const cache = new StatementCache(policy, client);
    await cache.query('select * from t where id = $1', [1], false);
    fail = true;
    const err = await cache.query('select * from t where id = $1', [1], false).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('0A000');
    expect(isStaleStatementError(err)).toBe(true);
    expect(isStaleStatementError(dbError('0A000'))).toBe(false);
    fail = false;
    await cache.query('select * from t where id = $1', [1], false);
    expect(sent.at(-1)?.closes).toEqual([statementName('select * from t where id = $1')]);
    expect(policy.enabled).toBe(true);
  });

  it('42P05 on a miss: the server has it; pg is told so, and the query re-runs', async () => {
    const policy = new StatementPolicy(4, silent);
    let calls = 0;
    const { client, connection } = fakeClient(() => (++calls === 1 ? dbError('42P05') : { rows: [] }));
    const cache = new StatementCache(policy, client);
    await cache.query('select $1::int', [1], true);
    expect(connection.parsedStatements[statementName('select $1::int')]).toBe('select $1::int');
    expect(cache.size).toBe(1);
  });

  it('a failed Parse is not kept; an error after a successful Parse is', async () => {
    const policy = new StatementPolicy(4, silent);
    let parsed: Record<string, string> = {};
    const { client, connection } = fakeClient((config) => {
      if (typeof config === 'string' || !config.name) return { rows: [] };
      // A unique violation: Parse succeeded (pg recorded it), Execute failed.
      if (config.text.startsWith('insert')) parsed[config.name] = config.text;
      return dbError(config.text.startsWith('insert') ? '23505' : '42601');
    });
    parsed = connection.parsedStatements;
    const cache = new StatementCache(policy, client);
    await expect(cache.query('selec $1', [1], true)).rejects.toMatchObject({ code: '42601' });
    expect(cache.size).toBe(0);
    await expect(cache.query('insert into t values ($1)', [1], true)).rejects.toMatchObject({
      code: '23505',
    });
    expect(cache.size).toBe(1);
    expect(policy.stats()).toMatchObject({ prepared: 1, recoveries: 0 });
  });

  it('DISCARD ALL or DEALLOCATE ALL through it empties the cache and pg record', async () => {
    const policy = new StatementPolicy(4, silent);
    const { client, connection } = fakeClient();
    const cache = new StatementCache(policy, client);
    for (const statement of ['DISCARD ALL', ' deallocate all; ', 'DEALLOCATE PREPARE ALL']) {
      await cache.query('select $1::int', [1], true);
      expect(cache.size).toBe(1);
      await cache.query(statement, undefined, true);
      expect(cache.size).toBe(0);
      expect(connection.parsedStatements).toEqual({});
    }
    await cache.query('select $1::int', [1], true);
    await cache.query('DEALLOCATE pgs_other', undefined, true);
    expect(cache.size).toBe(1);
  });

  it('once the policy is off, statements go unnamed and the cache is let go', async () => {
    const policy = new StatementPolicy(4, silent);
    const { client, sent } = fakeClient();
    const cache = new StatementCache(policy, client);
    await cache.query('select $1::int', [1], true);
    for (let i = 0; i < 3; i++) policy.noteVanished('26000');
    await cache.query('select $1::int', [1], true);
    expect(nameOf(sent.at(-1))).toBeUndefined();
    expect(policy.stats()).toMatchObject({ enabled: false, prepared: 0 });
  });
});
