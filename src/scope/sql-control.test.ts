import { describe, expect, it } from 'vitest';
import { classifyControl } from './sql-control.js';

describe('classifyControl: what the pgPool() view does with a statement inside a joined transaction', () => {
  it.each([
    ['BEGIN', 'begin'],
    ['  begin ;  ', 'begin'],
    ['Begin Work', 'begin'],
    ['begin transaction;', 'begin'],
    ['START TRANSACTION', 'begin'],
    ['-- tool\n/* note */ BEGIN', 'begin'],
    ['COMMIT', 'commit'],
    ['end;', 'commit'],
    ['commit work', 'commit'],
    ['ROLLBACK', 'rollback'],
    ['abort', 'rollback'],
  ])('%j is mapped to %s', (text, want) => {
    expect(classifyControl(text)).toBe(want);
  });

  it.each([
    'BEGIN; INSERT INTO t VALUES (1)',
    'begin;insert into t values (1);commit',
    'INSERT INTO t VALUES (1); COMMIT',
    'select 1; rollback',
    'BEGIN ISOLATION LEVEL SERIALIZABLE',
    'start transaction read only',
    'COMMIT AND CHAIN',
    "COMMIT PREPARED 'x'",
    'rollback; select 1',
    '/* c */ end; select 1',
  ])('%j is refused', (text) => {
    expect(classifyControl(text)).toBe('refuse');
  });

  it.each([
    'select 1',
    "insert into t values ('BEGIN; COMMIT')",
    'insert into t values ($$ ; commit $$)',
    'insert into t values ($body$ ; rollback $body$); select 1',
    'select 1 -- ; commit\n',
    'select 1 /* ; commit */',
    'SAVEPOINT a',
    'ROLLBACK TO SAVEPOINT a',
    'rollback work to a',
    'RELEASE SAVEPOINT a',
    'select $1::int; select $2::int',
    'update t set endpoint = 1',
    '',
  ])('%j runs as written', (text) => {
    expect(classifyControl(text)).toBeUndefined();
  });
});
