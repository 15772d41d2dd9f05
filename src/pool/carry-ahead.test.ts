import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { canCarryAhead } from './carry-ahead.js';

describe('canCarryAhead', () => {
  it('canCarryAhead: unnamed statements with parameters, or without and a single statement, carry statements ahead', () => {
    expect(canCarryAhead('select $1', [1])).toBe(true);
    expect(canCarryAhead({ text: 'select $1', values: [1] }, undefined)).toBe(true);
    expect(canCarryAhead('select 1', undefined)).toBe(true);
    expect(canCarryAhead('select 1', [])).toBe(true);
    expect(canCarryAhead('select 1;  ', undefined)).toBe(true);
    expect(canCarryAhead({ text: 'select 1' }, undefined)).toBe(true);
    // Several statements (or a `;` anywhere but the end) keep pg's simple protocol, which runs them all.
    expect(canCarryAhead('select 1; select 2', undefined)).toBe(false);
    expect(canCarryAhead("select 'a;b'", undefined)).toBe(false);
    expect(canCarryAhead({ text: 'select 1; select 2' }, undefined)).toBe(false);
    expect(canCarryAhead('select $1; select 2', [1])).toBe(true);
    expect(canCarryAhead('select 1', {} as unknown as unknown[])).toBe(false);
    // COPY … FROM STDIN without a copy stream fails at once only in the simple protocol.
    expect(canCarryAhead('copy ahead_items from stdin', undefined)).toBe(false);
    expect(canCarryAhead(' COPY ahead_items (v) FROM STDIN', [])).toBe(false);
    // pg sends an empty text in the simple protocol even with values.
    expect(canCarryAhead('', [1])).toBe(false);
    expect(canCarryAhead({ text: '', values: [1] }, undefined)).toBe(false);
    expect(canCarryAhead({ text: 'select $1', name: 'n' }, [1])).toBe(false);
    expect(canCarryAhead({ text: 'select $1', rows: 10 } as pg.QueryConfig, [1])).toBe(false);
    expect(canCarryAhead({ text: 'select $1', queryMode: 'simple' } as pg.QueryConfig, [1])).toBe(false);
  });
});
