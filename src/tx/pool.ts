import type pg from 'pg';
import type { Lease } from '../pool/lease.js';
import { PoolBase } from '../pool/pool.js';
import { normalizePoolConfig, type PoolConfig } from '../pool/pool-options.js';
import { findFrame } from '../pool/scope-context.js';
import { Connection } from './connection.js';
import { PgPoolView } from './pg-pool-view.js';
import { RequestScope } from './request-scope.js';
import { type LeaseSource, openTransaction, runTransaction } from './run-transaction.js';
import { Transaction } from './transaction.js';
import { normalizeTxOptions, type TransactionOptions, type TxSettings } from './tx-options.js';

/** The scope the current async context runs in, for this pool. */
export type AmbientScope = Transaction | Connection;

/**
 * The pool: acquire scopes (from `PoolBase`), transaction scopes, and the ambient scope — code running inside
 * a callback scope of this pool reaches it with {@link Pool.current}, and {@link Pool.query} runs on it. Make
 * one with {@link createPool}.
 */
export class Pool extends PoolBase<Connection> {
  #pgPool: PgPoolView | undefined;

  /** @internal */
  protected makeConnection(lease: Lease): Connection {
    return new Connection(this.core, lease);
  }

  /**
   * The innermost scope of this pool that the current async context runs in: the transaction (or savepoint)
   * of a `transaction()` callback, the connection of an `acquire()` callback, the transaction a request
   * middleware opened — or undefined. Work started outside the scope's async context (a timer or listener set
   * up before the scope) does not see it.
   */
  current(): AmbientScope | undefined {
    const handle = findFrame(this.core)?.handle;
    if (handle instanceof RequestScope) return handle.current;
    return handle as AmbientScope | undefined;
  }

  /** @internal The ambient scope to run on, opening a request's lazy transaction if needed. */
  async ambient(): Promise<AmbientScope | undefined> {
    const handle = findFrame(this.core)?.handle;
    if (handle instanceof RequestScope) return handle.transaction();
    return handle as AmbientScope | undefined;
  }

  /**
   * Runs one query: inside a scope of this pool, on that scope's connection (in its transaction); elsewhere on
   * a connection acquired and given back around it. Takes what `pg.Client#query` takes; database errors are
   * pg's own objects.
   */
  override async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (findFrame(this.core)) {
      const scope = await this.ambient();
      if (scope) return scope.query<R>(text, values);
    }
    return super.query<R>(text, values);
  }

  /**
   * A transaction on a connection of the pool. Callback form: BEGIN, run `fn`, COMMIT if it resolves (resolving
   * with its value), ROLLBACK if it throws (rejecting with the same error object); the connection goes back
   * to the pool either way. Without a callback: resolves with a `Transaction` for `await using`; commit with
   * `await tx.commit()`, leaving the block without it rolls back and gives the connection back.
   *
   * Inside another scope of this pool, the callback form follows `propagation`: `'required'` (default) runs
   * `fn` in the current transaction (if `fn` throws, that transaction can only roll back), `'nested'` in a
   * savepoint of it, `'requiresNew'` in a separate transaction on a second connection. The `await using`
   * form always opens its own transaction on its own connection.
   *
   * Rejects with `ConfigError` for bad options before anything is sent, with everything `acquire()` rejects
   * with, with pg's error when COMMIT is refused, `TransactionRolledBackError`, `CommitUnknownError`,
   * `TransactionTimeoutError`, or the abort signal's reason.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T>;
  transaction(options?: TransactionOptions): Promise<Transaction>;
  async transaction<T>(
    fnOrOptions?: ((tx: Transaction) => Promise<T> | T) | TransactionOptions,
    maybeOptions?: TransactionOptions,
  ): Promise<T | Transaction> {
    if (typeof fnOrOptions !== 'function') {
      const settings = normalizeTxOptions(fnOrOptions, 'using', this.core.settings.allowedSettings);
      return openTransaction(this.core, this.#source(settings, true), settings);
    }
    const settings = normalizeTxOptions(maybeOptions, 'callback', this.core.settings.allowedSettings);
    if (settings.propagation !== 'requiresNew' && findFrame(this.core)) {
      const scope = await this.ambient();
      if (scope instanceof Transaction) {
        return settings.propagation === 'nested' ? scope.transaction(fnOrOptions) : scope.join(fnOrOptions);
      }
      if (scope instanceof Connection) return scope.transaction(fnOrOptions, maybeOptions);
    }
    return runTransaction(
      this.core,
      this.#source(settings, settings.propagation !== 'requiresNew'),
      settings,
      fnOrOptions,
    );
  }

  #source(settings: TxSettings, checkNested: boolean): LeaseSource {
    const core = this.core;
    return {
      kind: 'pool',
      acquire: (remainingMillis) =>
        core.lease(
          {
            ...(remainingMillis === undefined
              ? {}
              : { timeoutMillis: Math.min(remainingMillis, core.settings.acquireTimeoutMillis) }),
            ...(settings.signal ? { signal: settings.signal } : {}),
          },
          checkNested,
        ),
    };
  }

  /**
   * @internal For request middleware: runs `fn` in a lazy transaction scope — the transaction opens on the
   * first query made through this pool (or its `pgPool()` view) and is ended by the returned scope's
   * `finish(commit)`.
   */
  runInRequestScope<T>(
    options: TransactionOptions | undefined,
    onOpen: ((tx: Transaction) => void) | undefined,
    fn: (scope: RequestScope) => T,
  ): T {
    const settings = normalizeTxOptions(options, 'using', this.core.settings.allowedSettings);
    const scope = new RequestScope(
      () => openTransaction(this.core, this.#source(settings, false), settings),
      onOpen,
    );
    return this.core.inFrame(
      scope,
      () => !scope.finished,
      undefined,
      () => fn(scope),
      () => scope.isOpen(),
    );
  }

  /**
   * A `pg.Pool`-compatible view of this pool, for tools that take a `pg.Pool` (Kysely's `PostgresDialect`,
   * Drizzle's node-postgres driver, session stores): `connect()`, `query()`, `end()`. Their queries use this
   * pool's bounded connections; inside a pg-scope transaction (or a request's transaction) they join it, and a
   * transaction they open there becomes a savepoint. `end()` closes this pool.
   */
  pgPool(): pg.Pool {
    this.#pgPool ??= new PgPoolView(this);
    // Structurally a pg.Pool for the methods such tools call; the rest of pg.Pool's surface is not offered.
    return this.#pgPool as unknown as pg.Pool;
  }
}

/**
 * Creates a pool. Throws `ConfigError` (naming the field) for bad configuration. No connection is opened
 * until the first acquire, unless `min` > 0.
 */
export function createPool(config?: PoolConfig): Pool {
  return new Pool(normalizePoolConfig(config));
}
