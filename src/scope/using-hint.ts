import type { Logger } from 'pino';
import { LogEvent } from '../logging/events.js';
import type { Transaction } from '../tx/transaction.js';

/**
 * The debug hint for a `pool.query()` that runs outside an open `await using` transaction (the `await using`
 * form is not an ambient scope, so the query does not run in it). Said once per transaction.
 */
export class UsingHint {
  readonly #log: Logger;
  /** `await using` transactions that may still be open (pruned on each add, so at most about `max`). */
  readonly #open = new Set<Transaction>();
  /** Those the hint was already given for. */
  readonly #hinted = new WeakSet<Transaction>();

  constructor(log: Logger) {
    this.#log = log;
  }

  /** True while a tracked transaction may be open: only then is {@link outside} worth calling. */
  get watching(): boolean {
    return this.#open.size > 0;
  }

  /** Tracks an `await using` transaction (only while debug is on: the hint is a debug line). */
  track(tx: Transaction): void {
    if (!this.#log.isLevelEnabled('debug')) return;
    for (const open of this.#open) if (open.state !== 'active') this.#open.delete(open);
    this.#open.add(tx);
  }

  /** A `pool.query()` ran outside any scope: hint at each open transaction not hinted at yet. */
  outside(): void {
    const log = this.#log;
    for (const tx of this.#open) {
      if (tx.state !== 'active') {
        this.#open.delete(tx);
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
}
