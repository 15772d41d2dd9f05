import type { OutcomeCounts } from '../pool/pool-stats.js';

/**
 * The transactions' running totals, kept by the transactions and reported by the pool's `stats()` (`commits`,
 * `rollbacks`): the pool layer reads the two numbers and knows nothing of transactions.
 */
export class TxOutcomes implements OutcomeCounts {
  #commits = 0;
  #rollbacks = 0;

  /** Top-level transactions committed. */
  get commits(): number {
    return this.#commits;
  }

  /** Top-level transactions rolled back (by request, on error, or by the server). */
  get rollbacks(): number {
    return this.#rollbacks;
  }

  /** A top-level transaction committed. */
  committed(): void {
    this.#commits++;
  }

  /** A top-level transaction rolled back. */
  rolledBack(): void {
    this.#rollbacks++;
  }
}
