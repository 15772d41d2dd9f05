import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Pool, SavepointOpenError, ScopeClosedError, type Transaction } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { idsIn, poolFor } from './support/tx-support.js';

/**
 * Savepoints beside each other in one transaction. PostgreSQL keeps one stack of savepoints per transaction,
 * so a savepoint opened "beside" another open one is really inside it: rolling back the first would undo the
 * second's work. pg-scope refuses, with `SavepointOpenError` and nothing sent, every `query`, `transaction`
 * and `commit` on a transaction or savepoint that has a savepoint open inside it; `rollback` ends the ones
 * inside too, and their handles are closed.
 */
describe('sibling savepoints: rolling back one never undoes the other', () => {
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

  it("the reported sequence: a.rollback() with b opened beside it leaves none of a's work", async () => {
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (0)');
      await using a = await tx.transaction();
      await a.query('insert into items values (1)');
      // Opening b beside the open a is refused now; before, it shared a's savepoint name.
      const b = await tx.transaction().catch((err: unknown) => err);
      if (!(b instanceof Error)) await (b as Transaction).query('insert into items values (2)');
      await a.rollback();
      if (!(b instanceof Error)) await (b as Transaction).commit().catch(() => undefined);
      await tx.commit();
    }
    expect(await idsIn(db, 'items')).toEqual([0]);
  });

  it('await using: a second savepoint beside an open one is refused; a.rollback() undoes exactly its own row', async () => {
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (0)');
      await using a = await tx.transaction();
      await a.query('insert into items values (1)');
      const b = await tx.transaction().catch((err: unknown) => err);
      expect(b).toBeInstanceOf(SavepointOpenError);
      expect(b).toMatchObject({ code: 'SAVEPOINT_OPEN', savepointId: a.id });
      await a.rollback();
      // Now b opens, and its work is its own.
      await using b2 = await tx.transaction();
      await b2.query('insert into items values (2)');
      await b2.commit();
      await tx.commit();
    }
    expect(await idsIn(db, 'items')).toEqual([0, 2]);
  });

  it('await using, one after the other: the first rolled back, the second kept', async () => {
    {
      await using tx = await pool.transaction();
      {
        await using a = await tx.transaction();
        await a.query('insert into items values (1)');
        await a.rollback();
      }
      {
        await using b = await tx.transaction();
        await b.query('insert into items values (2)');
        await b.commit();
      }
      await tx.commit();
    }
    expect(await idsIn(db, 'items')).toEqual([2]);
  });

  it('await using, one after the other: the first kept, the second rolled back (and one left without commit)', async () => {
    {
      await using tx = await pool.transaction();
      {
        await using a = await tx.transaction();
        await a.query('insert into items values (1)');
        await a.commit();
      }
      {
        await using b = await tx.transaction();
        await b.query('insert into items values (2)');
        await b.rollback();
      }
      {
        await using c = await tx.transaction();
        await c.query('insert into items values (3)');
      }
      await tx.commit();
    }
    expect(await idsIn(db, 'items')).toEqual([1]);
  });

  it('callback form side by side: the second is refused before its callback runs; the first rolls back alone', async () => {
    let secondRan = false;
    await pool.transaction(async (tx) => {
      await tx.query('insert into items values (0)');
      const [a, b] = await Promise.allSettled([
        tx.transaction(async (sp) => {
          await sp.query('insert into items values (1)');
          throw new Error('a fails');
        }),
        tx.transaction(async (sp) => {
          secondRan = true;
          await sp.query('insert into items values (2)');
        }),
      ]);
      expect(a).toMatchObject({ status: 'rejected', reason: { message: 'a fails' } });
      expect(b).toMatchObject({ status: 'rejected', reason: { code: 'SAVEPOINT_OPEN' } });
      await tx.transaction((sp) => sp.query('insert into items values (3)'));
    });
    expect(secondRan).toBe(false);
    expect(await idsIn(db, 'items')).toEqual([0, 3]);
  });

  it('callback form side by side: the first kept while the second is refused', async () => {
    await pool.transaction(async (tx) => {
      const [a, b] = await Promise.allSettled([
        tx.transaction((sp) => sp.query('insert into items values (1)')),
        tx.transaction((sp) => sp.query('insert into items values (2)')),
      ]);
      expect(a.status).toBe('fulfilled');
      expect(b).toMatchObject({ status: 'rejected', reason: { code: 'SAVEPOINT_OPEN' } });
      await tx
        .transaction(async (sp) => {
          await sp.query('insert into items values (3)');
          throw new Error('the third rolls back');
        })
        .catch(() => undefined);
    });
    expect(await idsIn(db, 'items')).toEqual([1]);
  });

  it('callback form one after the other, both orders: each keeps or loses exactly its own row', async () => {
    await pool.transaction(async (tx) => {
      await tx
        .transaction(async (sp) => {
          await sp.query('insert into items values (1)');
          throw new Error('first fails');
        })
        .catch(() => undefined);
      await tx.transaction((sp) => sp.query('insert into items values (2)'));
      await tx.transaction((sp) => sp.query('insert into items values (3)'));
      await tx
        .transaction(async (sp) => {
          await sp.query('insert into items values (4)');
          throw new Error('last fails');
        })
        .catch(() => undefined);
    });
    expect(await idsIn(db, 'items')).toEqual([2, 3]);
  });

  it('each savepoint of a transaction gets a name of its own', async () => {
    const sent = await pool.acquire(async (conn) => {
      const client = conn.client;
      const texts: string[] = [];
      const original = client.query;
      client.query = ((config: unknown, ...rest: unknown[]) => {
        const text = typeof config === 'string' ? config : (config as { text?: string }).text;
        if (text && /savepoint/i.test(text)) texts.push(text);
        return (original as (...args: unknown[]) => unknown).call(client, config, ...rest);
      }) as typeof client.query;
      try {
        await conn.transaction(async (tx) => {
          await tx.transaction((a) => a.transaction((inner) => inner.query('select 1')));
          await tx.transaction((b) => b.query('select 1'));
        });
      } finally {
        client.query = original;
      }
      return texts;
    });
    const opened = sent.filter((t) => t.startsWith('SAVEPOINT '));
    expect(opened).toHaveLength(3);
    expect(new Set(opened).size).toBe(3);
    expect(sent).toEqual([
      'SAVEPOINT pg_scope_sp_1',
      'SAVEPOINT pg_scope_sp_2',
      'RELEASE SAVEPOINT pg_scope_sp_2',
      'RELEASE SAVEPOINT pg_scope_sp_1',
      'SAVEPOINT pg_scope_sp_3',
      'RELEASE SAVEPOINT pg_scope_sp_3',
    ]);
  });
});

describe('an operation on a savepoint that is not the innermost', () => {
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

  it('query, savepoint and commit on the enclosing transaction are refused and send nothing', async () => {
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (1)');
      await using sp = await tx.transaction();
      await sp.query('insert into items values (2)');
      await expect(tx.query('insert into items values (9)')).rejects.toBeInstanceOf(SavepointOpenError);
      await expect(tx.transaction()).rejects.toBeInstanceOf(SavepointOpenError);
      await expect(tx.commit()).rejects.toMatchObject({ code: 'SAVEPOINT_OPEN', savepointId: sp.id });
      expect(tx.state).toBe('active');
      expect(sp.state).toBe('active');
      await sp.commit();
      await tx.query('insert into items values (3)');
      await tx.commit();
    }
    // 9 was never sent: had it been, it would have landed in sp's savepoint and been committed with it.
    expect(await idsIn(db, 'items')).toEqual([1, 2, 3]);
  });

  it('rollback of an outer savepoint ends the ones inside it; their handles are closed, the transaction goes on', async () => {
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (1)');
      await using level1 = await tx.transaction();
      await level1.query('insert into items values (2)');
      await using level2 = await level1.transaction();
      await level2.query('insert into items values (3)');
      await using level3 = await level2.transaction();
      await level3.query('insert into items values (4)');

      await expect(level1.query('select 1')).rejects.toBeInstanceOf(SavepointOpenError);
      await expect(level1.commit()).rejects.toBeInstanceOf(SavepointOpenError);
      await level1.rollback();
      for (const ended of [level2, level3]) {
        expect(ended.state).toBe('rolledBack');
        await expect(ended.query('insert into items values (8)')).rejects.toBeInstanceOf(ScopeClosedError);
        await expect(ended.commit()).rejects.toThrow(
          /rolledBack \(rolled back with the enclosing savepoint\)/,
        );
        await expect(ended.rollback()).rejects.toBeInstanceOf(ScopeClosedError);
        await expect(ended.transaction()).rejects.toBeInstanceOf(ScopeClosedError);
      }
      // Disposing the closed handles (at the end of this block) sends nothing and undoes nothing.
      await level3[Symbol.asyncDispose]();
      await tx.query('insert into items values (5)');
      await using again = await tx.transaction();
      await again.query('insert into items values (6)');
      await again.commit();
      await tx.commit();
    }
    expect(await idsIn(db, 'items')).toEqual([1, 5, 6]);
    expect(pool.stats().borrowed).toBe(0);
  });

  it('rollback of the transaction ends its open savepoints', async () => {
    let kept: Transaction | undefined;
    {
      await using tx = await pool.transaction();
      await tx.query('insert into items values (1)');
      kept = await tx.transaction();
      await kept.query('insert into items values (2)');
      await tx.rollback();
      expect(kept.state).toBe('rolledBack');
      await expect(kept.commit()).rejects.toThrow(/rolled back with the transaction/);
    }
    expect(await idsIn(db, 'items')).toEqual([]);
  });

  it('a callback that resolves with its own savepoint still open rolls back and rejects with SavepointOpenError', async () => {
    await expect(
      pool.transaction(async (tx) => {
        await tx.query('insert into items values (1)');
        const sp = await tx.transaction();
        await sp.query('insert into items values (2)');
        // Returns without committing or rolling back sp.
      }),
    ).rejects.toBeInstanceOf(SavepointOpenError);
    await expect(
      pool.transaction(async (tx) => {
        await tx.query('insert into items values (3)');
        await tx.transaction(async (outer) => {
          await outer.query('insert into items values (4)');
          await outer.transaction();
        });
      }),
    ).rejects.toBeInstanceOf(SavepointOpenError);
    expect(await idsIn(db, 'items')).toEqual([]);
    expect(pool.stats().borrowed).toBe(0);
    const status = await pool.acquire(async (conn) => conn.client.getTransactionStatus());
    expect(status).toBe('I');
  });
});

/** One step of a random program over `await using` handles in one transaction; `h` picks a handle. */
type Step = { kind: 'open' | 'insert' | 'commit' | 'rollback'; h: number };

type Outcome = 'ok' | 'SAVEPOINT_OPEN' | 'SCOPE_CLOSED';

/** The model of one handle: its parent, its state, and the rows it holds that are not yet its parent's. */
interface ModelHandle {
  parent: number | undefined;
  state: 'active' | 'committed' | 'rolledBack';
  rows: number[];
}

class Model {
  readonly handles: ModelHandle[] = [{ parent: undefined, state: 'active', rows: [] }];

  #usable(h: number): boolean {
    for (let i: number | undefined = h; i !== undefined; i = this.handles[i]?.parent) {
      if (this.handles[i]?.state !== 'active') return false;
    }
    return true;
  }

  #openChild(h: number): number | undefined {
    const i = this.handles.findIndex((x) => x.parent === h && x.state === 'active');
    return i === -1 ? undefined : i;
  }

  #check(h: number): Outcome {
    if (!this.#usable(h)) return 'SCOPE_CLOSED';
    return this.#openChild(h) === undefined ? 'ok' : 'SAVEPOINT_OPEN';
  }

  apply(step: Step, id: number): Outcome {
    const h = step.h;
    const handle = this.handles[h] as ModelHandle;
    if (step.kind === 'rollback') {
      if (!this.#usable(h)) return 'SCOPE_CLOSED';
      for (let i: number | undefined = h; i !== undefined; i = this.#openChild(i)) {
        const x = this.handles[i] as ModelHandle;
        x.state = 'rolledBack';
        x.rows = [];
      }
      return 'ok';
    }
    const outcome = this.#check(h);
    if (outcome !== 'ok') return outcome;
    if (step.kind === 'insert') handle.rows.push(id);
    else if (step.kind === 'open') this.handles.push({ parent: h, state: 'active', rows: [] });
    else {
      handle.state = 'committed';
      if (handle.parent !== undefined) {
        (this.handles[handle.parent] as ModelHandle).rows.push(...handle.rows);
        handle.rows = [];
      }
    }
    return outcome;
  }

  /** The rows in the table afterwards: the top level's, if it committed. */
  committed(): number[] {
    const top = this.handles[0] as ModelHandle;
    return top.state === 'committed' ? [...top.rows].sort((a, b) => a - b) : [];
  }
}

function outcomeOf(err: unknown): Outcome {
  if (err instanceof SavepointOpenError) return 'SAVEPOINT_OPEN';
  if (err instanceof ScopeClosedError) return 'SCOPE_CLOSED';
  throw err;
}

describe('property: savepoints opened, committed and rolled back in any order', () => {
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

  it('every step has the outcome a model of one savepoint stack says, and the table holds its rows', async () => {
    const seen = { refused: 0, closed: 0, kept: 0, endedInside: 0 };
    const step = fc.record({
      kind: fc.constantFrom<Step['kind']>('open', 'open', 'insert', 'insert', 'commit', 'rollback'),
      h: fc.nat(12),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 24 }), async (steps) => {
        await db.admin('truncate items');
        const model = new Model();
        {
          await using tx = await pool.transaction();
          const handles: Transaction[] = [tx];
          for (const [n, s] of steps.entries()) {
            const h = s.h % handles.length;
            const target = handles[h] as Transaction;
            const id = n + 1;
            const expected = model.apply({ kind: s.kind, h }, id);
            let actual: Outcome = 'ok';
            try {
              if (s.kind === 'insert') await target.query('insert into items values ($1)', [id]);
              else if (s.kind === 'open') handles.push(await target.transaction());
              else if (s.kind === 'commit') await target.commit();
              else {
                const before = handles.filter((x) => x.state === 'active').length;
                await target.rollback();
                if (before - handles.filter((x) => x.state === 'active').length > 1) seen.endedInside++;
              }
            } catch (err) {
              actual = outcomeOf(err);
            }
            expect(actual, `step ${n}: ${s.kind} on handle ${h}`).toBe(expected);
            if (actual === 'SAVEPOINT_OPEN') seen.refused++;
            if (actual === 'SCOPE_CLOSED') seen.closed++;
          }
          for (const [i, handle] of handles.entries()) {
            expect(handle.state, `handle ${i}`).toBe(model.handles[i]?.state);
          }
          // Leaving the block disposes the open handles innermost first, as `await using` would.
          for (const handle of handles.slice(1).reverse()) await handle[Symbol.asyncDispose]();
        }
        const expectedRows = model.committed();
        seen.kept += expectedRows.length;
        expect(await idsIn(db, 'items')).toEqual(expectedRows);
        expect(pool.stats().borrowed).toBe(0);
      }),
      {
        numRuns: Number(process.env.FC_RUNS ?? 60),
        // Always run, besides the random schedules, one of each kind of outcome counted below: an enclosing
        // rollback that ends an open savepoint (then a use of the ended one), and a refused sibling with the
        // transaction committed.
        examples: [
          [
            [
              { kind: 'open', h: 0 },
              { kind: 'open', h: 1 },
              { kind: 'insert', h: 2 },
              { kind: 'rollback', h: 1 },
              { kind: 'insert', h: 2 },
            ],
          ],
          [
            [
              { kind: 'open', h: 0 },
              { kind: 'open', h: 0 },
              { kind: 'insert', h: 1 },
              { kind: 'commit', h: 1 },
              { kind: 'insert', h: 0 },
              { kind: 'commit', h: 0 },
            ],
          ],
        ],
        ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
        verbose: 1,
      },
    );
    expect(seen.refused).toBeGreaterThan(0);
    expect(seen.closed).toBeGreaterThan(0);
    expect(seen.kept).toBeGreaterThan(0);
    expect(seen.endedInside).toBeGreaterThan(0);
  });
});
