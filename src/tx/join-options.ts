import { ConfigError } from '../errors.js';
import { ISOLATION_LEVELS, type TransactionOptions, type TxSettings } from './tx-options.js';

/** How strict each isolation level is; an outer transaction without one counts as read committed. */
function strictness(isolation: TxSettings['isolation']): number {
  return isolation === undefined ? 0 : ISOLATION_LEVELS.indexOf(isolation);
}

/**
 * Checks the options of a callback `pool.transaction()` that runs inside the ambient transaction (propagation
 * `'required'`, or `'nested'`: a savepoint of it) against what that transaction is. An option the outer
 * transaction cannot honour would be dropped silently, so it is refused with `ConfigError` naming it:
 * an `isolation` stricter than the outer one's, `readOnly: false` inside a read-only transaction, `readOnly:
 * true` inside a read-write one (whether or not it has written yet: the answer must not depend on what ran
 * before), `deferrable` inside a transaction that is not deferrable, and `retry`, `timeoutMillis`, `signal` or
 * `settings`, which only a transaction of its own can have. `options` were already validated.
 */
export function checkJoinOptions(options: TransactionOptions | undefined, outer: TxSettings): void {
  if (options === undefined) return;
  const nested = options.propagation === 'nested';
  const mode = nested ? 'a nested (savepoint) scope' : 'a joined scope';
  const refuse = (field: string, why: string): never => {
    throw new ConfigError(
      field,
      `${mode} runs inside the current transaction, which ${why}; use propagation: 'requiresNew' for a ` +
        `transaction of its own on a second connection${nested ? '' : ", or propagation: 'nested' (a savepoint) without this option"}`,
    );
  };
  if (options.isolation !== undefined && strictness(options.isolation) > strictness(outer.isolation)) {
    refuse('isolation', `runs at ${outer.isolation ?? 'the server default isolation (read committed)'}`);
  }
  if (options.readOnly === false && outer.readOnly) refuse('readOnly', 'is read-only');
  if (options.readOnly === true && !outer.readOnly) refuse('readOnly', 'is read-write');
  if (options.deferrable === true && !outer.deferrable) refuse('deferrable', 'is not deferrable');
  if (options.retry !== undefined) refuse('retry', 'cannot be run again on its own');
  if (options.timeoutMillis !== undefined) refuse('timeoutMillis', 'has its own deadline (or none)');
  if (options.signal !== undefined) refuse('signal', 'is not aborted by this signal');
  if (options.settings !== undefined && Object.keys(options.settings).length > 0) {
    refuse('settings', 'has its own settings');
  }
}
