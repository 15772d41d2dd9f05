import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Pool, ScopeClosedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { backendPid, capturingLogger, idsIn, poolFor } from './support/tx-support.js';

describe('await using transaction: commit is explicit, rollback is the default', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
    pool = poolFor(db, { max: 1 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  beforeEach(async () => {
    await db.admin('truncate items');
  });

  /** The last statement the backend `pid` ran, and its state. */
  async function lastStatementOf(pid: number): Promise<{ query: string; state: string }> {
    const result = await db.admin('select query, state from pg_stat_activity where pid = $1', [pid]);
    return result.rows[0] as { query: string; state: string };
  }

  it('rolls back when the block ends without commit, and gives the connection back', async () => {
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (1)');
      expect(pool.stats().borrowed).toBe(1);
    }
    expect(pool.stats().borrowed).toBe(0);
    expect(await idsIn(db, 'items')).toEqual([]);
  });

  it("logs the rollback at debug with reason 'disposed without commit'", async () => {
    const { logger, lines } = capturingLogger();
    const logged = poolFor(db, { max: 1, logger });
    try {
      {
        await using tx = await logged.transaction();
        await tx.query('insert into items values (1)');
      }
      const rollback = lines.find((line) => line.event === 'tx.rollback');
      expect(rollback).toMatchObject({ level: 20, reason: 'disposed without commit' });
      expect(await idsIn(db, 'items')).toEqual([]);
    } finally {
      await logged.close();
    }
  });

  it('rolls back when the block is left by a throw', async () => {
    const thrown = new Error('left the block');
    let caught: unknown;
    try {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (2)');
      throw thrown;
    } catch (err) {
      caught = err;
    }
    expect(caught).toBe(thrown);
    expect(pool.stats().borrowed).toBe(0);
    expect(await idsIn(db, 'items')).toEqual([]);
  });

  it('commits with tx.commit()', async () => {
    const before = pool.stats();
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (3)');
      await tx.commit();
      expect(tx.state).toBe('committed');
      expect(await idsIn(db, 'items')).toEqual([3]);
    }
    expect(pool.stats().borrowed).toBe(0);
    expect(pool.stats().commits - before.commits).toBe(1);
    expect(await idsIn(db, 'items')).toEqual([3]);
  });

  it('rolls back with tx.rollback()', async () => {
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (4)');
      await tx.rollback();
      expect(tx.state).toBe('rolledBack');
    }
    expect(await idsIn(db, 'items')).toEqual([]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('rejects a second commit, a commit after rollback and a query after commit with ScopeClosedError, sending nothing', async () => {
    let pid = 0;
    {
      await using tx = await pool.transaction();
      pid = await backendPid(tx);
      await tx.query('insert into items values (5)');
      await tx.commit();

      const secondCommit = await tx.commit().catch((err: unknown) => err);
      expect(secondCommit).toBeInstanceOf(ScopeClosedError);
      expect(secondCommit).toMatchObject({ code: 'SCOPE_CLOSED' });

      const lateQuery = await tx.query('insert into items values (6)').catch((err: unknown) => err);
      expect(lateQuery).toBeInstanceOf(ScopeClosedError);
      expect(lateQuery).toMatchObject({ code: 'SCOPE_CLOSED' });

      const lateRollback = await tx.rollback().catch((err: unknown) => err);
      expect(lateRollback).toBeInstanceOf(ScopeClosedError);

      const lateSavepoint = await tx.transaction().catch((err: unknown) => err);
      expect(lateSavepoint).toBeInstanceOf(ScopeClosedError);
    }
    // The backend's last statement is still our COMMIT: nothing was sent after it.
    expect(await lastStatementOf(pid)).toEqual({ query: 'COMMIT', state: 'idle' });
    expect(await idsIn(db, 'items')).toEqual([5]);
    expect(pool.stats().borrowed).toBe(0);

    let pid2 = 0;
    {
      await using tx = await pool.transaction();
      pid2 = await backendPid(tx);
      await tx.query('insert into items values (7)');
      await tx.rollback();
      const commitAfterRollback = await tx.commit().catch((err: unknown) => err);
      expect(commitAfterRollback).toBeInstanceOf(ScopeClosedError);
      expect(commitAfterRollback).toMatchObject({ code: 'SCOPE_CLOSED' });
      const queryAfterRollback = await tx.query('insert into items values (8)').catch((err: unknown) => err);
      expect(queryAfterRollback).toBeInstanceOf(ScopeClosedError);
    }
    expect(await lastStatementOf(pid2)).toEqual({ query: 'ROLLBACK', state: 'idle' });
    expect(await idsIn(db, 'items')).toEqual([5]);
  });

  it('rejects use of the handle after the block ended with ScopeClosedError', async () => {
    let escaped: Awaited<ReturnType<Pool['transaction']>> | undefined;
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (9)');
      escaped = tx;
    }
    await expect(escaped.query('insert into items values (10)')).rejects.toBeInstanceOf(ScopeClosedError);
    await expect(escaped.commit()).rejects.toMatchObject({ code: 'SCOPE_CLOSED' });
    expect(await idsIn(db, 'items')).toEqual([]);
  });

  it('commits with nothing sent when the transaction ran no statement', async () => {
    {
      await using tx = await pool.transaction();
      await tx.commit();
    }
    expect(pool.stats().borrowed).toBe(0);
  });

  describe('conn.transaction() on an acquired connection', () => {
    it('callback form: commits, rolls back, and leaves the connection with the caller', async () => {
      await pool.acquire(async (conn) => {
        const pid = await backendPid(conn);
        const value = await conn.transaction(async (tx) => {
          expect(await backendPid(tx)).toBe(pid);
          await tx.query('insert into items values (11)');
          return 'done';
        });
        expect(value).toBe('done');
        expect(conn.released).toBe(false);
        expect(pool.stats().borrowed).toBe(1);

        const thrown = new Error('inner');
        await expect(
          conn.transaction(async (tx) => {
            await tx.query('insert into items values (12)');
            throw thrown;
          }),
        ).rejects.toBe(thrown);

        // Still ours, outside any transaction, same backend.
        expect(await backendPid(conn)).toBe(pid);
        expect(conn.client.getTransactionStatus()).toBe('I');
        expect(await idsIn(db, 'items')).toEqual([11]);
      });
      expect(pool.stats().borrowed).toBe(0);
      expect(await idsIn(db, 'items')).toEqual([11]);
    });

    it('await using form: commit, and rollback when the block ends without it', async () => {
      {
        await using conn = await pool.acquire();
        const pid = await backendPid(conn);
        {
          await using tx = await conn.transaction();
          await tx.query('insert into items values (13)');
          await tx.commit();
        }
        {
          await using tx = await conn.transaction();
          await tx.query('insert into items values (14)');
        }
        expect(conn.released).toBe(false);
        expect(await backendPid(conn)).toBe(pid);
        expect(conn.client.getTransactionStatus()).toBe('I');
        expect(pool.stats().borrowed).toBe(1);
        expect(await idsIn(db, 'items')).toEqual([13]);
      }
      expect(pool.stats().borrowed).toBe(0);
      expect(await idsIn(db, 'items')).toEqual([13]);
    });

    it('rejects conn.transaction() after the acquire scope ended with ScopeClosedError', async () => {
      let escaped: Awaited<ReturnType<Pool['acquire']>> | undefined;
      await pool.acquire(async (conn) => {
        escaped = conn;
      });
      await expect(escaped?.transaction(async () => undefined)).rejects.toBeInstanceOf(ScopeClosedError);
      await expect(escaped?.transaction()).rejects.toMatchObject({ code: 'SCOPE_CLOSED' });
    });
  });
});
