import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool, Transaction } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { idsIn, poolFor } from './support/tx-support.js';

/**
 * A random program of nested scopes. Each scope runs its actions in order (an insert, a statement that fails
 * and is not caught, or a nested scope whose failure the parent catches), then ends in one of the ways its
 * form allows. The model says which inserts must be committed; the table must say the same.
 */
type Action = { kind: 'insert'; id: number } | { kind: 'fail' } | { kind: 'scope'; scope: Scope };

/** How a callback scope ends after its actions. */
const CALLBACK_ENDS = [
  'return',
  'throw',
  'commit-then-return',
  'rollback-then-return',
  'commit-then-throw',
  'rollback-then-throw',
] as const;
/** How an `await using` block ends after its actions. */
const USING_ENDS = ['commit', 'none', 'rollback', 'throw', 'commit-then-throw'] as const;

type Scope =
  | { form: 'callback'; end: (typeof CALLBACK_ENDS)[number]; actions: Action[] }
  | { form: 'using'; end: (typeof USING_ENDS)[number]; actions: Action[] };

/** Nesting depth below the top-level transaction. */
const MAX_DEPTH = 3;

function scopeArbitrary(depth: number): fc.Arbitrary<Scope> {
  const insert = { arbitrary: fc.constant<Action>({ kind: 'insert', id: 0 }), weight: 4 };
  const fail = { arbitrary: fc.constant<Action>({ kind: 'fail' }), weight: 1 };
  const nested = {
    arbitrary: fc
      .constant(null)
      .chain(() => scopeArbitrary(depth + 1).map((scope): Action => ({ kind: 'scope', scope }))),
    weight: 2,
  };
  const action = depth < MAX_DEPTH ? fc.oneof(insert, fail, nested) : fc.oneof(insert, fail);
  const actions = fc.array(action, { maxLength: depth < MAX_DEPTH ? 4 : 3 });
  return fc.oneof(
    fc.record({ form: fc.constant('callback' as const), end: fc.constantFrom(...CALLBACK_ENDS), actions }),
    fc.record({ form: fc.constant('using' as const), end: fc.constantFrom(...USING_ENDS), actions }),
  );
}

/** Gives every insert a unique id (a copy; the generated value is left alone for shrinking). */
function numbered(scope: Scope, next = { id: 1 }): Scope {
  return {
    ...scope,
    actions: scope.actions.map((a): Action => {
      if (a.kind === 'insert') return { kind: 'insert', id: next.id++ };
      if (a.kind === 'scope') return { kind: 'scope', scope: numbered(a.scope, next) };
      return a;
    }),
  } as Scope;
}

/** The actions that run: everything up to and including the first uncaught failing statement. */
function actionsRun(scope: Scope): { actions: Action[]; failed: boolean } {
  const index = scope.actions.findIndex((a) => a.kind === 'fail');
  return index === -1
    ? { actions: scope.actions, failed: false }
    : { actions: scope.actions.slice(0, index), failed: true };
}

/** Whether a scope keeps its work (commits, or releases its savepoint). */
function keeps(scope: Scope): boolean {
  if (actionsRun(scope).failed) return false;
  return scope.form === 'callback'
    ? scope.end === 'return' || scope.end === 'commit-then-return' || scope.end === 'commit-then-throw'
    : scope.end === 'commit' || scope.end === 'commit-then-throw';
}

/** The model: the ids that must be in the table after the program ran. */
function expectedIds(scope: Scope, parentKeeps = true): number[] {
  const kept = parentKeeps && keeps(scope);
  return actionsRun(scope).actions.flatMap((a) => {
    if (a.kind === 'insert') return kept ? [a.id] : [];
    if (a.kind === 'scope') return expectedIds(a.scope, kept);
    return [];
  });
}

/** Inserts in the program that run (the model's universe). */
function countInserts(scope: Scope): number {
  return actionsRun(scope).actions.reduce(
    (n, a) => n + (a.kind === 'insert' ? 1 : a.kind === 'scope' ? countInserts(a.scope) : 0),
    0,
  );
}

/** Scopes in the program that are opened, itself included. */
function countScopes(scope: Scope): number {
  return actionsRun(scope).actions.reduce((n, a) => n + (a.kind === 'scope' ? countScopes(a.scope) : 0), 1);
}

/** Thrown by a scope's own `throw` ending. */
class ScopeThrow extends Error {}

/** Whether `err` is one of the failures the program provokes (anything else fails the property). */
function isProvoked(err: unknown): boolean {
  return err instanceof ScopeThrow || (err instanceof pg.DatabaseError && err.code === '22012');
}

async function runActions(tx: Transaction, scope: Scope): Promise<void> {
  for (const action of scope.actions) {
    if (action.kind === 'insert') {
      await tx.query('insert into items values ($1)', [action.id]);
    } else if (action.kind === 'fail') {
      await tx.query('select 1/0');
    } else {
      try {
        await runScope(
          action.scope,
          (fn) => tx.transaction(fn),
          () => tx.transaction(),
        );
      } catch (err) {
        if (!isProvoked(err)) throw err;
      }
    }
  }
}

/** Runs `scope` in the form it asks for, opened by `callbackForm` or `usingForm`. */
async function runScope(
  scope: Scope,
  callbackForm: (fn: (tx: Transaction) => Promise<void>) => Promise<void>,
  usingForm: () => Promise<Transaction>,
): Promise<void> {
  if (scope.form === 'callback') {
    const end = scope.end;
    await callbackForm(async (tx) => {
      await runActions(tx, scope);
      if (end === 'commit-then-return' || end === 'commit-then-throw') await tx.commit();
      if (end === 'rollback-then-return' || end === 'rollback-then-throw') await tx.rollback();
      if (end === 'throw' || end === 'commit-then-throw' || end === 'rollback-then-throw') {
        throw new ScopeThrow(end);
      }
    });
    return;
  }
  await using tx = await usingForm();
  await runActions(tx, scope);
  if (scope.end === 'commit' || scope.end === 'commit-then-throw') await tx.commit();
  if (scope.end === 'rollback') await tx.rollback();
  if (scope.end === 'throw' || scope.end === 'commit-then-throw') throw new ScopeThrow(scope.end);
}

describe('property: nested scopes commit exactly what a model says', () => {
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

  it('the table equals the model after every random program', async () => {
    // What the programs exercised, so the property cannot pass by testing nothing.
    const seen = { keptRows: 0, discardedRows: 0, nestedScopes: 0 };
    await fc.assert(
      fc.asyncProperty(scopeArbitrary(0), async (generated) => {
        const program = numbered(generated);
        await db.admin('truncate items');
        const before = pool.stats();

        let topLevelError: unknown;
        try {
          await runScope(
            program,
            (fn) => pool.transaction(fn),
            () => pool.transaction(),
          );
        } catch (err) {
          topLevelError = err;
        }
        if (topLevelError !== undefined && !isProvoked(topLevelError)) throw topLevelError;

        const expected = expectedIds(program).sort((a, b) => a - b);
        expect(await idsIn(db, 'items')).toEqual(expected);
        seen.keptRows += expected.length;
        seen.discardedRows += countInserts(program) - expected.length;
        seen.nestedScopes += countScopes(program) - 1;
        const after = pool.stats();
        expect(after.borrowed).toBe(0);
        expect(after.created).toBe(1);
        expect(after.destroyed).toBe(0);
        // One top-level outcome per program: a commit exactly when the model keeps the top level.
        expect(after.commits - before.commits).toBe(keeps(program) ? 1 : 0);
        expect(after.commits - before.commits + after.rollbacks - before.rollbacks).toBe(1);
        // The connection is idle and clean for the next program.
        const status = await pool.acquire(async (conn) => conn.client.getTransactionStatus());
        expect(status).toBe('I');
      }),
      {
        numRuns: Number(process.env.FC_RUNS ?? 25),
        ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
        verbose: 1,
      },
    );
    expect(seen.keptRows).toBeGreaterThan(0);
    expect(seen.discardedRows).toBeGreaterThan(0);
    expect(seen.nestedScopes).toBeGreaterThan(0);
  });

  it('the model itself: a few hand-checked programs', () => {
    const program = numbered({
      form: 'callback',
      end: 'return',
      actions: [
        { kind: 'insert', id: 0 },
        {
          kind: 'scope',
          scope: {
            form: 'using',
            end: 'none',
            actions: [{ kind: 'insert', id: 0 }],
          },
        },
        {
          kind: 'scope',
          scope: {
            form: 'callback',
            end: 'return',
            actions: [{ kind: 'insert', id: 0 }, { kind: 'fail' }, { kind: 'insert', id: 0 }],
          },
        },
        {
          kind: 'scope',
          scope: {
            form: 'callback',
            end: 'commit-then-throw',
            actions: [{ kind: 'insert', id: 0 }],
          },
        },
      ],
    });
    expect(expectedIds(program)).toEqual([1, 5]);
    expect(expectedIds({ ...program, end: 'throw' } as Scope)).toEqual([]);
  });
});
