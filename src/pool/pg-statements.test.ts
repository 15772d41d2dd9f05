import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  forgetAllStatements,
  forgetStatement,
  isStatementParsed,
  markStatementParsed,
  nameFree,
  queryClosingFirst,
} from './pg-statements.js';

/**
 * What pg-statements.ts relies on in pg (see its comment). If a pg upgrade renames the records of parsed
 * statements, or changes what its Query writes on submit, these fail; the statement-cache integration tests
 * count the messages on the wire.
 */
type Records = { parsedStatements: Record<string, string>; submittedNamedStatements: Record<string, string> };

function recordsOf(client: pg.Client): Records {
  return (client as unknown as { connection: Records }).connection;
}

describe('pg internals the statement cache relies on', () => {
  it("pg.Client's connection records parsed and submitted named statements in plain objects", () => {
    const con = recordsOf(new pg.Client());
    expect(con.parsedStatements).toEqual({});
    expect(con.submittedNamedStatements).toEqual({});
  });

  it('forget, mark and ask change what pg will skip parsing', () => {
    const client = new pg.Client();
    const con = recordsOf(client);
    markStatementParsed(client, 'a', 'select 1');
    con.submittedNamedStatements.b = 'select 2';
    expect(isStatementParsed(client, 'a')).toBe(true);
    forgetStatement(client, 'a');
    expect(isStatementParsed(client, 'a')).toBe(false);
    forgetStatement(client, 'b');
    expect(con.submittedNamedStatements).toEqual({});
    markStatementParsed(client, 'c', 'select 3');
    con.submittedNamedStatements.d = 'select 4';
    forgetAllStatements(client);
    expect(recordsOf(client).parsedStatements).toEqual({});
    expect(recordsOf(client).submittedNamedStatements).toEqual({});
  });

  it("pg's Query skips Parse for a name in parsedStatements (why forgetting matters)", () => {
    const calls: string[] = [];
    const connection = fakeConnection(calls);
    connection.parsedStatements.known = 'select $1::int';
    const query = new pg.Query({ name: 'known', text: 'select $1::int', values: [1] });
    (query.submit as unknown as (c: unknown) => unknown)(connection);
    expect(calls).toEqual(['cork', 'bind known', 'describe', 'execute', 'sync', 'uncork']);
  });

  it('nameFree: false only for a name pg holds for another text (pg would refuse the query)', () => {
    const connection = fakeConnection([]);
    connection.parsedStatements.a = 'select 1';
    connection.submittedNamedStatements.b = 'select 2';
    expect(nameFree(connection, 'a', 'select 1')).toBe(true);
    expect(nameFree(connection, 'b', 'select 2')).toBe(true);
    expect(nameFree(connection, 'c', 'select 3')).toBe(true);
    expect(nameFree(connection, 'a', 'select 9')).toBe(false);
    expect(nameFree(connection, 'b', 'select 9')).toBe(false);
    const query = new pg.Query({ name: 'a', text: 'select 9', values: [1] });
    const refused = (query.submit as unknown as (c: unknown) => unknown)(connection);
    expect(refused).toBeInstanceOf(Error);
  });

  it('queryClosingFirst: one pg.Query whose submit writes Close first, then Parse/Bind/Execute/Sync, corked', async () => {
    const calls: string[] = [];
    let submitted: pg.Query | undefined;
    const client = {
      query(q: pg.Query) {
        submitted = q;
      },
    } as unknown as pg.Client;
    let onSubmit = 0;
    const result = queryClosingFirst(
      client,
      { name: 'n', text: 'select $1::int', values: [1] },
      ['old1', 'old2'],
      () => {
        onSubmit++;
      },
    );
    expect(submitted).toBeInstanceOf(pg.Query);
    expect(onSubmit).toBe(0);
    const connection = fakeConnection(calls);
    if (!submitted) throw new Error('nothing was submitted');
    (submitted.submit as unknown as (c: unknown) => unknown)(connection);
    expect(onSubmit).toBe(1);
    expect(calls).toEqual([
      'cork',
      'close S old1',
      'close S old2',
      'cork',
      'parse n',
      'bind n',
      'describe',
      'execute',
      'sync',
      'uncork',
      'uncork',
    ]);
    // pg settles the query through its callback, as for any query.
    (submitted as unknown as { callback: (err: unknown, res: unknown) => void }).callback(null, {
      rows: [1],
    });
    await expect(result).resolves.toEqual({ rows: [1] });
  });
});

function fakeConnection(calls: string[]) {
  return {
    parsedStatements: {} as Record<string, string>,
    submittedNamedStatements: {} as Record<string, string>,
    stream: { cork: () => calls.push('cork'), uncork: () => calls.push('uncork') },
    close: (msg: { type: string; name: string }) => calls.push(`close ${msg.type} ${msg.name}`),
    parse: (msg: { name: string }) => calls.push(`parse ${msg.name}`),
    bind: (msg: { statement: string }) => calls.push(`bind ${msg.statement}`),
    describe: () => calls.push('describe'),
    execute: () => calls.push('execute'),
    sync: () => calls.push('sync'),
    flush: () => calls.push('flush'),
    query: () => calls.push('query'),
  };
}
