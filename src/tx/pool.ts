import type { Lease } from '../pool/lease.js';
import { PoolBase } from '../pool/pool.js';
import { normalizePoolConfig, type PoolConfig } from '../pool/pool-options.js';
import { Connection } from './connection.js';
import { type LeaseSource, openTransaction, runTransaction } from './run-transaction.js';
import type { Transaction } from './transaction.js';
import { normalizeTxOptions, type TransactionOptions } from './tx-options.js';

/**
 * The pool: acquire scopes (from `PoolBase`) and transaction scopes. Make one with {@link createPool}.
 */
export class Pool extends PoolBase<Connection> {
  /** @internal */
  protected makeConnection(lease: Lease): Connection {
    return new Connection(this.core, lease);
  }

  /**
   * A transaction on a connection of the pool. Callback form: BEGIN, run `fn`, COMMIT if it resolves (resolving
   * with its value), ROLLBACK if it throws (rejecting with the same error object); the connection goes back
   * to the pool either way. Without a callback: resolves with a `Transaction` for `await using`; commit with
   * `await tx.commit()`, leaving the block without it rolls back and gives the connection back.
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
    const isCallback = typeof fnOrOptions === 'function';
    const settings = normalizeTxOptions(
      isCallback ? maybeOptions : fnOrOptions,
      isCallback ? 'callback' : 'using',
    );
    const core = this.core;
    const source: LeaseSource = {
      kind: 'pool',
      acquire: (remainingMillis) =>
        core.lease({
          ...(remainingMillis === undefined
            ? {}
            : {
                timeoutMillis: Math.min(remainingMillis, core.settings.acquireTimeoutMillis),
              }),
          ...(settings.signal ? { signal: settings.signal } : {}),
        }),
    };
    if (isCallback) return runTransaction(core, source, settings, fnOrOptions);
    return openTransaction(core, source, settings);
  }
}

/**
 * Creates a pool. Throws `ConfigError` (naming the field) for bad configuration. No connection is opened
 * until the first acquire, unless `min` > 0.
 */
export function createPool(config?: PoolConfig): Pool {
  return new Pool(normalizePoolConfig(config));
}
