import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogEvent } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { captureLogs } from './setup/log-capture.js';
import { backendPid, idsIn, poolFor } from './support/tx-support.js';

/**
 * The `await using` form is not an ambient scope: inside it, `pool.query()` runs on another connection,
 * outside the transaction. The pool says so at debug, once per transaction.
 */
describe('pool.query() inside an await using transaction', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('runs outside it, on another connection, and a debug line says so once', async () => {
    const capture = captureLogs('debug');
    await using pool = poolFor(db, { max: 2, logger: capture.logger });
    {
      await using tx = await pool.transaction();
      const txPid = await backendPid(tx);
      expect(await backendPid(pool)).not.toBe(txPid);
      await pool.query('insert into items values (1)');
      // Not rolled back with the transaction: it was never in it.
      await tx.rollback();
      const hints = capture.events(LogEvent.queryOutsideTransaction);
      expect(hints).toHaveLength(1);
      expect(hints[0]).toMatchObject({ txId: tx.id, scopeId: tx.scopeId });
    }
    expect(await idsIn(db, 'items')).toEqual([1]);
    // No open await using transaction: no hint.
    await pool.query('select 1');
    // Inside a callback scope pool.query joins it: no hint either.
    await pool.transaction(() => pool.query('select 1'));
    expect(capture.events(LogEvent.queryOutsideTransaction)).toHaveLength(1);
  });
});
