import type pg from 'pg';
import { LogEvent } from '../logging/events.js';
import type { Lease } from '../pool/lease.js';
import { PoolBase } from '../pool/pool.js';
import { normalizePoolConfig, type PoolConfig } from '../pool/pool-options.js';
import { findFrame } from '../pool/scope-context.js';
import { Connection } from './connection.js';
import { checkJoinOptions } from './join-options.js';
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
  /**
   * `await using` transactions of this pool that may still be open (pruned on each add, so at most about
   * `max`), for the debug hint of a `pool.query()` that runs outside them.
   */
  readonly #usingOpen = new Set<Transaction>();
  /** Those the hint was already given for: once per transaction. */
  readonly #hinted = new WeakSet<Transaction>();

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

  /** @internal True when the current async context runs inside a scope of this pool (a synchronous check). */
  inScope(): boolean {
    return findFrame(this.core) !== undefined;
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
  override query<R extends unknown[] = unknown[]>(
    config: pg.QueryArrayConfig,
    values?: unknown[],
  ): Promise<pg.QueryArrayResult<R>>;
  override query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  override async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (findFrame(this.core)) {
      const scope = await this.ambient();
      if (scope) return scope.query<R>(text, values);
    }
    if (this.#usingOpen.size > 0) this.#hintOutside();
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
   * savepoint of it, `'requiresNew'` in a separate transaction on a second connection. A joined or nested
   * scope rejects with `ConfigError` when given an option the current transaction cannot honour (see
   * `docs/propagation.md`). The `await using` form always opens its own transaction on its own connection.
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
      const tx = await openTransaction(this.core, this.#source(settings, true), settings);
      if (this.core.log.isLevelEnabled('debug')) {
        for (const open of this.#usingOpen) if (open.state !== 'active') this.#usingOpen.delete(open);
        this.#usingOpen.add(tx);
      }
      return tx;
    }
    const settings = normalizeTxOptions(maybeOptions, 'callback', this.core.settings.allowedSettings);
    if (settings.propagation !== 'requiresNew' && findFrame(this.core)) {
      const scope = await this.ambient();
      if (scope instanceof Transaction) {
        checkJoinOptions(maybeOptions, scope.settings);
        return settings.propagation === 'nested' ? scope.transaction(fnOrOptions) : scope.join(fnOrOptions);
      }
      if (scope instanceof Connection) return scope.transaction(fnOrOptions, maybeOptions);
    }
    return runTransaction(
      this.core,
      // requiresNew takes a second connection on purpose: the nestedAcquire rule applies when the pool is full.
      this.#source(settings, settings.propagation === 'requiresNew' ? 'whenFull' : true),
      settings,
      fnOrOptions,
    );
  }

  /**
   * `pool.query()` outside any scope while an `await using` transaction of this pool is open: the query does
   * not run in it (the `await using` form is not an ambient scope). Said once per transaction, at debug.
   */
  #hintOutside(): void {
    const log = this.core.log;
    for (const tx of this.#usingOpen) {
      if (tx.state !== 'active') {
        this.#usingOpen.delete(tx);
        continue;
      }
      if (this.#hinted.has(tx) || !log.isLevelEnabled('debug')) continue;
      this.#hinted.add(tx);
      log.debug(
        { event: LogEvent.queryOutsideTransaction, txId: tx.id, scopeId: tx.scopeId },
        'pool.query() ran on a connection of its own while an `await using` transaction is open: not in it ' +
          '(if it was meant to be, use tx.query())',
      );
    }
  }

  #source(settings: TxSettings, checkNested: boolean | 'whenFull'): LeaseSource {
    const core = this.core;
    return {
      kind: 'pool',
      acquire: (remainingMillis, nested?: false) =>
        core.lease(
          {
            ...(remainingMillis === undefined
              ? {}
              : { timeoutMillis: Math.min(remainingMillis, core.settings.acquireTimeoutMillis) }),
            ...(settings.signal ? { signal: settings.signal } : {}),
          },
          nested ?? checkNested,
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
    if (!this.#pgPool) {
      const view = new PgPoolView(this);
      this.core.connectionObserver = view.connectionObserver;
      this.#pgPool = view;
    }
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
