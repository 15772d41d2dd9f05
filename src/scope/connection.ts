import { type InspectOptions, inspect } from 'node:util';
import type pg from 'pg';
import type { Lease } from '../pool/lease.js';
import type { PoolCore } from '../pool/pool-core.js';
import { openTransaction, runTransaction } from '../tx/run-transaction.js';
import type { Transaction } from '../tx/transaction.js';
import { normalizeTxOptions, type TransactionOptions } from '../tx/tx-options.js';
import type { TxOutcomes } from '../tx/tx-outcomes.js';
import { Queryable } from '../util/queryable.js';

/**
 * A connection lent by the pool to an acquire scope, with transactions. It is not the `pg.Client`: when the
 * scope ends it forgets the client, and any later use rejects with `ScopeClosedError` without touching pool or
 * server.
 */
export class Connection extends Queryable {
  readonly #core: PoolCore<TxOutcomes>;
  readonly #lease: Lease;

  /** @internal Made by the pool. */
  constructor(core: PoolCore<TxOutcomes>, lease: Lease) {
    super();
    this.#core = core;
    this.#lease = lease;
  }

  /**
   * The underlying `pg.Client`, for what the scope API does not cover (COPY, cursors, LISTEN).
   * Throws `ScopeClosedError` after the scope ended.
   */
  get client(): pg.Client {
    return this.#lease.client('use conn.client');
  }

  /** True once the scope has given the connection back. */
  get released(): boolean {
    return this.#lease.state !== 'leased';
  }

  /** Short id of this scope, as it appears in log lines (`scopeId`). */
  get scopeId(): string {
    return this.#lease.id;
  }

  /** @internal Queryable: on the leased connection. */
  protected override runQuery<R extends pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values: unknown[] | undefined,
  ): Promise<pg.QueryResult<R>> {
    return this.#lease.query<R>(text, values);
  }

  /**
   * A transaction on this connection. Callback form: BEGIN, run `fn`, COMMIT if it resolves (resolving with its
   * value), ROLLBACK if it throws (rejecting with the same error). Without a callback: resolves with a
   * `Transaction` for `await using`; commit with `await tx.commit()`, leaving the block without it rolls back.
   * Rejects with `ConfigError` for bad options before anything is sent.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T>;
  transaction(options?: TransactionOptions): Promise<Transaction>;
  async transaction<T>(
    fnOrOptions?: ((tx: Transaction) => Promise<T> | T) | TransactionOptions,
    maybeOptions?: TransactionOptions,
  ): Promise<T | Transaction> {
    const lease = this.#lease;
    lease.client('open a transaction');
    const source = { kind: 'connection', lease } as const;
    const allowed = this.#core.settings.allowedSettings;
    if (typeof fnOrOptions === 'function') {
      return runTransaction(
        this.#core,
        source,
        normalizeTxOptions(maybeOptions, 'callback', allowed),
        fnOrOptions,
      );
    }
    return openTransaction(this.#core, source, normalizeTxOptions(fnOrOptions, 'using', allowed));
  }

  /**
   * Gives the connection back to the pool (rolled back if a transaction was left open, destroyed if it may be
   * unsafe). Idempotent; never rejects.
   */
  release(): Promise<void> {
    return this.#lease.end();
  }

  /** @internal Gives the connection back for destruction (a `pg.Pool`-style `release(err)`). */
  discard(): Promise<void> {
    return this.#lease.revoke('released with an error');
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
    return this.#lease.end();
  }
}
