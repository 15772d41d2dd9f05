import { describe, expect, it } from 'vitest';
import type { Lease } from '../pool/lease.js';
import { wroteLast } from './xid-capture.js';

const answered = (lastCommand: string | undefined, lastRowCount: number) =>
  ({ lastCommand, lastRowCount }) as unknown as Lease;

describe('wroteLast: the statement answered last changed rows, so the transaction has an id', () => {
  it('INSERT, UPDATE, DELETE, MERGE and COPY that changed at least one row', () => {
    for (const command of ['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY']) {
      expect(wroteLast(answered(command, 1)), command).toBe(true);
    }
  });

  it('a write that changed no row, a read, transaction control, or nothing answered yet: no', () => {
    expect(wroteLast(answered('UPDATE', 0))).toBe(false);
    for (const command of ['SELECT', 'BEGIN', 'SAVEPOINT', 'SET', undefined]) {
      expect(wroteLast(answered(command, 5)), String(command)).toBe(false);
    }
  });
});
