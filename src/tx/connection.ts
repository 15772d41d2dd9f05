import { PoolConnection } from '../pool/connection.js';
import type { Lease } from '../pool/lease.js';
import type { PoolCore } from '../pool/pool-core.js';
import { openTransaction, runTransaction } from './run-transaction.js';
import type { Transaction } from './transaction.js';
import { normalizeTxOptions, type TransactionOptions } from './tx-options.js';

/**
 * A connection lent by the pool to an acquire scope, with transactions. It is not the `pg.Client`: when the
 * scope ends it forgets the client, and any later use rejects with `ScopeClosedError`.
 */
export class Connection extends PoolConnection {
  readonly #core: PoolCore;

  /** @internal Made by the pool. */
  constructor(core: PoolCore, lease: Lease) {
    super(lease);
    this.#core = core;
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
    this.lease.client('open a transaction');
    const source = { kind: 'connection', lease: this.lease } as const;
    if (typeof fnOrOptions === 'function') {
      return runTransaction(
        this.#core,
        source,
        normalizeTxOptions(maybeOptions, 'callback', this.#core.settings.allowedSettings),
        fnOrOptions,
      );
    }
    return openTransaction(
      this.#core,
      source,
      normalizeTxOptions(fnOrOptions, 'using', this.#core.settings.allowedSettings),
    );
  }
}
