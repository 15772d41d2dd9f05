import { type InspectOptions, inspect } from 'node:util';
import type pg from 'pg';
import type { Lease } from './lease.js';

/**
 * A connection lent by the pool to an acquire scope. It is not the `pg.Client`: when the scope ends it
 * forgets the client, and any later use rejects with `ScopeClosedError` without touching pool or server.
 */
export class PoolConnection {
  readonly #lease: Lease;

  /** @internal Made by the pool. */
  constructor(lease: Lease) {
    this.#lease = lease;
  }

  /** @internal A getter over a private field, so serialising the handle never walks into the lease. */
  protected get lease(): Lease {
    return this.#lease;
  }

  /**
   * The underlying `pg.Client`, for what the scope API does not cover (COPY, cursors, LISTEN).
   * Throws `ScopeClosedError` after the scope ended.
   */
  get client(): pg.Client {
    return this.lease.client('use conn.client');
  }

  /** True once the scope has given the connection back. */
  get released(): boolean {
    return this.lease.state !== 'leased';
  }

  /** Short id of this scope, as it appears in log lines (`scopeId`). */
  get scopeId(): string {
    return this.lease.id;
  }

  /**
   * Runs a query: what `pg.Client#query` takes (text + values, or a `QueryConfig`), returning pg's
   * `QueryResult`. Database errors are pg's own `DatabaseError` objects, unchanged. Rejects with
   * `ScopeClosedError` after the scope ended.
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
    return this.lease.query<R>(text, values);
  }

  /**
   * Gives the connection back to the pool (rolled back if a transaction was left open, destroyed if it may be
   * unsafe). Idempotent; never rejects.
   */
  release(): Promise<void> {
    return this.lease.end();
  }

  /** @internal Gives the connection back for destruction (a `pg.Pool`-style `release(err)`). */
  discard(): Promise<void> {
    return this.lease.revoke('released with an error');
  }

  /** `JSON.stringify`: the scope's id and whether it has ended; never the client. */
  toJSON(): {
    /** The scope's id in log lines. */
    scopeId: string;
    /** Whether the scope has ended. */
    released: boolean;
  } {
    return { scopeId: this.scopeId, released: this.released };
  }

  /** `util.inspect`: what {@link toJSON} shows. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `${this.constructor.name} ${show(this.toJSON(), options)}`;
  }

  /** `await using`: the same as {@link release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.lease.end();
  }
}
