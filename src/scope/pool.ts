import { type InspectOptions, inspect } from 'node:util';
import type pg from 'pg';
import { type AcquireOptions, checkAcquireOptions } from '../pool/acquire-options.js';
import type { CloseOptions } from '../pool/pool-close.js';
import type { PoolConfig } from '../pool/pool-config.js';
import { PoolCore } from '../pool/pool-core.js';
import { normalizePoolConfig } from '../pool/pool-options.js';
import { findFrame, runInFrame } from '../pool/scope-context.js';
import type { PoolStats, PoolSummary } from '../stats.js';
import type { LeaseSource } from '../tx/lease-source.js';
import { openTransaction, runTransaction } from '../tx/run-transaction.js';
import type { Transaction } from '../tx/transaction.js';
import { normalizeTxOptions, type TransactionOptions, type TxSettings } from '../tx/tx-options.js';
import { TxOutcomes } from '../tx/tx-outcomes.js';
import { Queryable } from '../util/queryable.js';
import type { AmbientScope } from './ambient-scope.js';
import { Connection } from './connection.js';
import { PgPoolView } from './pg-pool-view.js';
import { type PingOptions, ping } from './ping.js';
import { routedLease, routedSource } from './read-routing.js';
import { ReplicaRouter } from './replica-router.js';
import { RequestScope } from './request-scope.js';
import { newConnectionCheck, scopedTransaction } from './scoped-transaction.js';
import { UsingHint } from './using-hint.js';

/**
 * The pool: acquire scopes, transaction scopes, and the ambient scope — code running inside a callback scope
 * of this pool reaches it with {@link Pool.current}, and {@link Pool.query} runs on it. Make one with
 * {@link createPool}.
 */
export class Pool extends Queryable implements AsyncDisposable {
  readonly #core: PoolCore<TxOutcomes>;
  readonly #usingHint: UsingHint;
  #pgPool: PgPoolView | undefined;
  /** The lease source of `transaction(fn)` without options. */
  #defaultSource: LeaseSource | undefined;
  /** With `replicas`: where read-only scopes run. */
  readonly #replicas: ReplicaRouter | undefined;

  /** @internal Use `createPool`. */
  constructor(core: PoolCore<TxOutcomes>) {
    super();
    this.#core = core;
    core.publicPool = this;
    this.#usingHint = new UsingHint(core.log);
    const { replicas, maxReplicaLagMillis } = core.settings;
    if (replicas) this.#replicas = new ReplicaRouter(core, replicas, maxReplicaLagMillis);
  }

  /**
   * Callback form: lends a connection to `fn` and gives it back when `fn` settles, whatever happens. Resolves
   * with `fn`'s value, rejects with `fn`'s error (the same object). A transaction `fn` left open by hand is
   * rolled back (logged at warn) before the connection is reused.
   *
   * `await using` form (no callback): resolves with a connection that is given back when the block ends.
   *
   * Rejects with `PoolExhaustedError`, `ConnectError`, `PoolClosedError`, `NestedAcquireError`, `ConfigError`
   * or the abort signal's reason.
   */
  acquire<T>(fn: (conn: Connection) => Promise<T> | T, options?: AcquireOptions): Promise<T>;
  acquire(options?: AcquireOptions): Promise<Connection>;
  async acquire<T>(
    fnOrOptions?: ((conn: Connection) => Promise<T> | T) | AcquireOptions,
    maybeOptions?: AcquireOptions,
  ): Promise<T | Connection> {
    const core = this.#core;
    if (typeof fnOrOptions !== 'function') {
      checkAcquireOptions(fnOrOptions);
      // From a replica for `readOnly` when the pool has replicas (as every lease and source below).
      return new Connection(core, await routedLease(this.#replicas, core, fnOrOptions));
    }
    checkAcquireOptions(maybeOptions);
    const lease = await routedLease(this.#replicas, core, maybeOptions);
    const conn = new Connection(core, lease);
    try {
      return await runInFrame(
        { pool: core, handle: conn, isOpen: () => lease.state === 'leased', acquiredAt: lease.acquiredStack },
        () => fnOrOptions(conn),
      );
    } finally {
      await lease.end();
    }
  }

  /**
   * The innermost scope of this pool that the current async context runs in: the transaction (or savepoint)
   * of a `transaction()` callback, the connection of an `acquire()` callback, the transaction a request
   * middleware opened — or undefined. Work started outside the scope's async context (a timer or listener set
   * up before the scope) does not see it.
   */
  current(): AmbientScope | undefined {
    const handle = findFrame(this.#core)?.handle;
    if (handle instanceof RequestScope) return handle.current;
    return handle as AmbientScope | undefined;
  }

  /** @internal True when the current async context runs inside a scope of this pool (a synchronous check). */
  inScope(): boolean {
    return findFrame(this.#core) !== undefined;
  }

  /** @internal The ambient scope to run on, opening a request's lazy transaction if needed. */
  async ambient(): Promise<AmbientScope | undefined> {
    const handle = findFrame(this.#core)?.handle;
    if (handle instanceof RequestScope) return handle.transaction();
    return handle as AmbientScope | undefined;
  }

  /** @internal Queryable: on the ambient scope, or on a connection acquired around the statement. */
  protected override async runQuery<R extends pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values: unknown[] | undefined,
  ): Promise<pg.QueryResult<R>> {
    if (findFrame(this.#core)) {
      const scope = await this.ambient();
      if (scope) return scope.query<R>(text, values);
    }
    if (this.#usingHint.watching) this.#usingHint.outside();
    const lease = this.#core.leaseNow(undefined) ?? (await this.#core.lease());
    try {
      return await lease.query<R>(text, values);
    } finally {
      await lease.end();
    }
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
  transaction<T>(
    fnOrOptions?: ((tx: Transaction) => Promise<T> | T) | TransactionOptions,
    maybeOptions?: TransactionOptions,
  ): Promise<T | Transaction> {
    const core = this.#core;
    if (typeof fnOrOptions !== 'function') return this.#usingTransaction(fnOrOptions);
    if (findFrame(core)) {
      const sourceFor = (s: TxSettings, check: boolean | 'whenFull') =>
        routedSource(this.#replicas, core, s, check);
      return scopedTransaction(core, () => this.ambient(), fnOrOptions, maybeOptions, sourceFor);
    }
    // The common case, a callback outside any scope of this pool: no async layer that only forwards a promise.
    let settings: TxSettings;
    try {
      settings = normalizeTxOptions(maybeOptions, 'callback', core.settings.allowedSettings);
    } catch (err) {
      return Promise.reject(err);
    }
    // Without options the settings are always the same: so is the lease source, made once per pool.
    let source = maybeOptions === undefined ? this.#defaultSource : undefined;
    if (!source) {
      source = routedSource(this.#replicas, core, settings, newConnectionCheck(settings));
      if (maybeOptions === undefined) this.#defaultSource = source;
    }
    return runTransaction(core, source, settings, fnOrOptions);
  }

  /** `transaction()` without a callback: always a transaction of its own, on a connection of its own. */
  async #usingTransaction(options: TransactionOptions | undefined): Promise<Transaction> {
    const core = this.#core;
    const settings = normalizeTxOptions(options, 'using', core.settings.allowedSettings);
    const tx = await openTransaction(core, routedSource(this.#replicas, core, settings, true), settings);
    this.#usingHint.track(tx);
    return tx;
  }

  /**
   * A readiness check (health endpoint, start-up): borrows an idle connection or opens one, runs one round trip
   * (`SELECT 1`), gives the connection back, and resolves with that round trip's latency in milliseconds.
   * Rejects with `PoolExhaustedError` when every connection stays borrowed for `timeoutMillis`, with
   * `ConnectError` when no connection could be opened in time or the server did not answer (or lost the
   * connection) within the time left (that connection is then destroyed), with `PoolClosedError` or
   * `ConfigError`. Not a nested acquire: it is bounded by its timeout.
   */
  ping(options?: PingOptions): Promise<number> {
    return ping(this.#core, options);
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
    const core = this.#core;
    const settings = normalizeTxOptions(options, 'using', core.settings.allowedSettings);
    const scope = new RequestScope(
      () => openTransaction(core, routedSource(this.#replicas, core, settings, false), settings),
      onOpen,
      settings.readOnly,
    );
    return runInFrame(
      {
        pool: core,
        handle: scope,
        isOpen: () => !scope.finished,
        acquiredAt: undefined,
        holdsConnection: () => scope.isOpen(),
      },
      () => fn(scope),
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
      this.#pgPool = new PgPoolView(this);
      this.#core.connectionObserver = this.#pgPool.connectionObserver;
    }
    // Structurally a pg.Pool for the methods such tools call; the rest of pg.Pool's surface is not offered.
    return this.#pgPool as unknown as pg.Pool;
  }

  /**
   * The pool's name: the `name` option, else its `application_name`, else `'pg-scope'` — the `pool` field of
   * its log lines, `poolName` in its diagnostics_channel messages, `db.client.connection.pool.name` in
   * `pg-scope/otel`.
   */
  get name(): string {
    return this.#core.name;
  }

  /** Counters and running totals. */
  stats(): PoolStats {
    const stats = this.#core.stats();
    return this.#replicas ? { ...stats, replicas: this.#replicas.stats() } : stats;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#core.closing;
  }

  /**
   * New acquires and waiting acquirers reject with `PoolClosedError`; borrowed connections get `timeoutMillis`
   * (default 10 000) to come back, then are destroyed (the server rolls back their transactions). Idempotent:
   * a second call returns the first call's promise. Never rejects for a connection that fails to close.
   */
  close(options?: CloseOptions): Promise<void> {
    if (!this.#replicas) return this.#core.close(options);
    this.#closing ??= Promise.all([this.#core.close(options), this.#replicas.close(options)]).then(
      () => undefined,
    );
    return this.#closing;
  }
  #closing: Promise<void> | undefined;

  /** `JSON.stringify` (and so pino, given `{ pool }`): the pool's name, whether it is closed, and its counters. */
  toJSON(): PoolSummary {
    return this.#core.toJSON();
  }

  /** `util.inspect`: what {@link toJSON} shows; never the settings, which hold the password. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `${this.constructor.name} ${show(this.toJSON(), options)}`;
  }

  /** `await using pool = createPool(...)`: closes the pool. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates a pool. Throws `ConfigError` (naming the field) for bad configuration. No connection is opened
 * until the first acquire, unless `min` > 0.
 */
export function createPool(config?: PoolConfig): Pool {
  return new Pool(new PoolCore(normalizePoolConfig(config), new TxOutcomes()));
}
