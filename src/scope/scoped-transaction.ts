import type { PoolCore } from '../pool/pool-core.js';
import { checkJoinOptions } from '../tx/join-options.js';
import type { LeaseSource } from '../tx/lease-source.js';
import { runTransaction } from '../tx/run-transaction.js';
import { Transaction } from '../tx/transaction.js';
import { normalizeTxOptions, type TransactionOptions, type TxSettings } from '../tx/tx-options.js';
import type { TxOutcomes } from '../tx/tx-outcomes.js';
import type { AmbientScope } from './ambient-scope.js';
import { Connection } from './connection.js';

/**
 * `pool.transaction(fn, options)` inside a scope of the pool, by `propagation`: `'required'` joins the current
 * transaction, `'nested'` opens a savepoint of it, `'requiresNew'` (or no transaction to join) opens one on a
 * connection of its own (from `sourceFor`: the primary, or a replica for read-only work). Rejects with `ConfigError` for options the current transaction cannot honour.
 */
export async function scopedTransaction<T>(
  core: PoolCore<TxOutcomes>,
  ambient: () => Promise<AmbientScope | undefined>,
  fn: (tx: Transaction) => Promise<T> | T,
  options: TransactionOptions | undefined,
  sourceFor: (settings: TxSettings, checkNested: boolean | 'whenFull') => LeaseSource,
): Promise<T> {
  const settings = normalizeTxOptions(options, 'callback', core.settings.allowedSettings);
  if (settings.propagation !== 'requiresNew') {
    const scope = await ambient();
    if (scope instanceof Transaction) {
      checkJoinOptions(options, scope.settings);
      return settings.propagation === 'nested' ? scope.transaction(fn) : scope.join(fn);
    }
    if (scope instanceof Connection) return scope.transaction(fn, options);
  }
  return runTransaction(core, sourceFor(settings, newConnectionCheck(settings)), settings, fn);
}

/** The nested-acquire check for a transaction on a connection of its own. */
export function newConnectionCheck(settings: TxSettings): true | 'whenFull' {
  // requiresNew takes a second connection on purpose: the nestedAcquire rule applies when the pool is full.
  return settings.propagation === 'requiresNew' ? 'whenFull' : true;
}
