import type pg from 'pg';

/**
 * `query()` as every scope offers it (`Pool`, `Connection`, `Transaction`): the promise forms of
 * `pg.Client#query`, typed once here. Each scope says in {@link Queryable.runQuery} where the statement runs.
 */
export abstract class Queryable {
  /**
   * Runs a statement: what `pg.Client#query` takes (text and values, or a `QueryConfig`; `rowMode: 'array'`
   * for rows as arrays), resolving with pg's `QueryResult`. Database errors are pg's own objects, unchanged.
   * On a pool: inside a scope of that pool, on the scope's connection (in its transaction), elsewhere on a
   * connection acquired and given back around it. On a connection or transaction: rejects with
   * `ScopeClosedError` after the scope ended. In a transaction, a failed statement leaves it able only to roll
   * back; while a savepoint opened inside it is open, the statement rejects with `SavepointOpenError` and is
   * not sent; when the `settings` statement sent with BEGIN failed, the first statement rejects with that
   * statement's error (not with the `25P02` it caused).
   */
  query<R extends unknown[] = unknown[]>(
    config: pg.QueryArrayConfig,
    values?: unknown[],
  ): Promise<pg.QueryArrayResult<R>>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.runQuery<R>(text, values);
  }

  /** @internal Runs the statement where this scope runs it. */
  protected abstract runQuery<R extends pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values: unknown[] | undefined,
  ): Promise<pg.QueryResult<R>>;
}
