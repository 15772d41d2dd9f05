import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, type Pool, type TransactionOptions } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { idsIn, poolFor } from './support/tx-support.js';

/** What identifies the transaction `q` runs in (its backend and start time), and its isolation and mode. */
async function txInfo(q: { query(text: string): Promise<{ rows: unknown[] }> }) {
  const { rows } = await q.query(
    `select pg_backend_pid() || '@' || now()::text as xid, current_setting('transaction_isolation') as isolation,
            current_setting('transaction_read_only') as "readOnly"`,
  );
  return rows[0] as { xid: string; isolation: string; readOnly: string };
}

/**
 * A callback `pool.transaction()` that joins the ambient transaction (propagation 'required', or 'nested':
 * a savepoint of it) runs in that transaction: an option it cannot honour there rejects with ConfigError
 * naming it, before anything is sent, instead of being dropped silently; the outer transaction is untouched.
 */
describe('options of a joined transaction', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
    pool = poolFor(db, { max: 3 });
  });

  afterAll(async () => {
    await pool?.close();
    await db?.drop();
  });

  /** Runs `inner` joined inside an outer transaction with `outer`; resolves with the inner rejection. */
  async function joinedRejection(
    outer: TransactionOptions | undefined,
    inner: TransactionOptions,
    write = false,
  ): Promise<unknown> {
    let ran = false;
    let rejection: unknown;
    const id = Math.floor(Math.random() * 1e9);
    await pool.transaction(async (tx) => {
      if (write) await tx.query('insert into items values ($1)', [id]);
      rejection = await pool
        .transaction(async () => {
          ran = true;
        }, inner)
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      // The outer transaction goes on and commits: the refusal did not mark it rollback-only.
      await tx.query('select 1');
    }, outer);
    expect(ran, 'the joined callback ran').toBe(false);
    if (write) expect(await idsIn(db, 'items')).toContain(id);
    return rejection;
  }

  it.each<[string, TransactionOptions | undefined, TransactionOptions, boolean]>([
    ['isolation', undefined, { isolation: 'serializable' }, false],
    ['isolation', { isolation: 'repeatable read' }, { isolation: 'serializable' }, false],
    ['readOnly', undefined, { readOnly: true }, false],
    ['readOnly', undefined, { readOnly: true }, true],
    ['readOnly', { readOnly: true }, { readOnly: false }, false],
    [
      'deferrable',
      { isolation: 'serializable', readOnly: true },
      { isolation: 'serializable', readOnly: true, deferrable: true },
      false,
    ],
    ['retry', undefined, { retry: { maxAttempts: 3 } }, false],
    ['timeoutMillis', undefined, { timeoutMillis: 1_000 }, false],
    ['signal', undefined, { signal: new AbortController().signal }, false],
    ['settings', undefined, { settings: { 'app.tenant': '7' } }, false],
  ])(
    '%s: %j outside, %j joined (outer wrote: %s) rejects with ConfigError',
    async (field, outer, inner, write) => {
      const err = await joinedRejection(outer, inner, write);
      expect(err).toBeInstanceOf(ConfigError);
      expect(err).toMatchObject({ code: 'INVALID_CONFIG', field });
      expect((err as Error).message).toContain("propagation: 'requiresNew'");
      expect((err as Error).message).toContain("propagation: 'nested'");
    },
  );

  it('the issue case: serializable + readOnly + retry joined in a plain transaction rejects, nothing written', async () => {
    const err = await joinedRejection(undefined, {
      isolation: 'serializable',
      readOnly: true,
      retry: { maxAttempts: 3 },
    });
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', field: 'isolation' });
  });

  it('a nested (savepoint) scope is held to the same rule, and suggests requiresNew only', async () => {
    const err = await joinedRejection(undefined, { propagation: 'nested', retry: { maxAttempts: 2 } });
    expect(err).toMatchObject({ code: 'INVALID_CONFIG', field: 'retry' });
    expect((err as Error).message).toContain("propagation: 'requiresNew'");
    expect((err as Error).message).not.toContain("propagation: 'nested'");
  });

  it('options the outer transaction already satisfies are accepted, and the scope joins it', async () => {
    await pool.transaction(
      async (tx) => {
        const outer = await txInfo(tx);
        for (const inner of [
          {},
          { isolation: 'serializable' },
          { isolation: 'read committed' },
          { readOnly: true },
          { propagation: 'nested', readOnly: true },
        ] as TransactionOptions[]) {
          const seen = await pool.transaction((joined) => txInfo(joined), inner);
          expect(seen, JSON.stringify(inner)).toEqual(outer);
        }
      },
      { isolation: 'serializable', readOnly: true },
    );
    await pool.transaction(async (tx) => {
      const outer = await txInfo(tx);
      const seen = await pool.transaction((joined) => txInfo(joined), {
        readOnly: false,
        isolation: 'read committed',
      });
      expect(seen).toEqual(outer);
    });
  });

  it("propagation: 'requiresNew' gets what it asks for, in a transaction of its own", async () => {
    await pool.transaction(async (tx) => {
      const outer = await txInfo(tx);
      const inner = await pool.transaction((own) => txInfo(own), {
        propagation: 'requiresNew',
        isolation: 'serializable',
        readOnly: true,
        retry: { maxAttempts: 2 },
      });
      expect(inner.xid).not.toBe(outer.xid);
      expect(inner).toMatchObject({ isolation: 'serializable', readOnly: 'on' });
    });
  });

  it('a joined scope that threw a JavaScript error: the outer COMMIT rejects saying so, not "a statement failed"', async () => {
    const thrown = new Error('validation failed in a helper');
    const outcome = pool.transaction(async (tx) => {
      await tx.query('insert into items values (424242)');
      await pool
        .transaction(() => {
          throw thrown;
        })
        .catch(() => {
          // Swallowed by the outer code: the transaction is rollback-only all the same.
        });
    });
    await expect(outcome).rejects.toMatchObject({ code: 'TX_ROLLED_BACK', cause: thrown });
    const err = (await outcome.catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('a scope that joined it threw');
    expect(err.message).not.toContain('statement failed');
    expect(await idsIn(db, 'items')).not.toContain(424242);
  });

  it("inside a request's transaction (transactionPerRequest): the same rule, and the request's writes commit", async () => {
    let rejection: unknown;
    await pool.runInRequestScope(undefined, undefined, async (scope) => {
      await pool.query('insert into items values (515151)');
      rejection = await pool
        .transaction(async () => pool.query('insert into items values (525252)'), {
          isolation: 'serializable',
          readOnly: true,
        })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      await scope.finish(true);
    });
    expect(rejection).toMatchObject({ code: 'INVALID_CONFIG', field: 'isolation' });
    const ids = await idsIn(db, 'items');
    expect(ids).toContain(515151);
    expect(ids).not.toContain(525252);
  });
});
